//! The approvals pane: what waits for a human's decision (read from the store every tick, so
//! approvals asked by other processes show too), and what `a` / `x` do to the selected one.
//! Production asks the approver to type the service name; a rejection asks for a reason.

use chrono::{DateTime, Utc};
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Cell, Row, Table};
use ratatui::Frame;

use super::app::{App, Input, Level, Mode};
use super::theme::Theme;
use crate::config::Approval as Required;
use crate::engine::Command;
use crate::store::Approval;

/// Rows of the pane (borders and header included) for `n` pending approvals; 0 hides it.
pub fn height(n: usize) -> u16 {
    if n == 0 {
        0
    } else {
        (n as u16).min(4) + 3
    }
}

impl App {
    /// The approval `a`/`x` act on: the selected service's, else the oldest.
    pub fn selected_approval(&self) -> Option<&Approval> {
        let svc = self.selected_service();
        self.approvals
            .iter()
            .find(|a| Some(a.service.as_str()) == svc)
            .or_else(|| self.approvals.first())
    }

    fn needs_typed_name(&self, a: &Approval) -> bool {
        self.config()
            .environments
            .get(&a.environment)
            .is_some_and(|e| e.approval == Required::Required)
    }

    pub(super) fn approve_key(&mut self) -> Vec<Command> {
        let Some(a) = self.selected_approval().cloned() else {
            self.message = Some((Level::Info, "no approval waits for a decision".into()));
            return Vec::new();
        };
        if self.needs_typed_name(&a) {
            self.mode = Mode::Input {
                purpose: Input::ApproveName {
                    id: a.id,
                    service: a.service,
                },
                buffer: String::new(),
            };
            return Vec::new();
        }
        self.decide(a.id, true, None)
    }

    pub(super) fn reject_key(&mut self) -> Vec<Command> {
        let Some(a) = self.selected_approval().cloned() else {
            self.message = Some((Level::Info, "no approval waits for a decision".into()));
            return Vec::new();
        };
        self.mode = Mode::Input {
            purpose: Input::RejectReason { id: a.id },
            buffer: String::new(),
        };
        Vec::new()
    }

    /// The typed text of an approval prompt was entered.
    pub(super) fn submit_approval(&mut self, purpose: Input, text: &str) -> Vec<Command> {
        match purpose {
            Input::ApproveName { id, service } => {
                if text.trim() != service {
                    self.message = Some((
                        Level::Error,
                        format!("not approved: type `{service}` to approve approval #{id}"),
                    ));
                    return Vec::new();
                }
                self.decide(id, true, None)
            }
            Input::RejectReason { id } => {
                if text.trim().is_empty() {
                    self.message = Some((
                        Level::Error,
                        format!("not rejected: approval #{id} needs a reason to reject"),
                    ));
                    return Vec::new();
                }
                self.decide(id, false, Some(text.trim().to_string()))
            }
            _ => Vec::new(),
        }
    }

    fn decide(&mut self, id: u64, approve: bool, reason: Option<String>) -> Vec<Command> {
        self.message = Some((
            Level::Info,
            format!(
                "approval #{id}: {} sent",
                if approve { "approval" } else { "rejection" }
            ),
        ));
        vec![Command::DecideApproval {
            id,
            approve,
            operator: self.operator.clone(),
            reason,
        }]
    }
}

fn ago(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let s = (now - t).num_seconds().max(0);
    match s {
        0..60 => format!("{s}s ago"),
        60..3600 => format!("{}m ago", s / 60),
        _ => format!("{}h{:02}m ago", s / 3600, (s % 3600) / 60),
    }
}

fn left(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let s = (t - now).num_seconds().max(0);
    match s {
        0..60 => format!("in {s}s"),
        60..3600 => format!("in {}m", s / 60),
        _ => format!("in {}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

pub fn draw(f: &mut Frame, area: Rect, app: &App, theme: &Theme, now: DateTime<Utc>) {
    let wide = area.width >= 120;
    let selected = app.selected_approval().map(|a| a.id);
    let rows: Vec<Row> = app
        .approvals
        .iter()
        .map(|a| {
            let risk = match (a.risk_score, a.risk_level.as_deref()) {
                (Some(s), Some(l)) => format!("{s} {l}"),
                _ => "-".into(),
            };
            let risk_style = match a.risk_level.as_deref() {
                Some("high") | Some("critical") => theme.critical,
                Some("medium") => theme.warn,
                _ => theme.ok,
            };
            let mut cells = vec![
                Cell::from(format!("#{}", a.id)),
                Cell::from(a.service.clone()),
                Cell::from(a.stage.clone()),
                Cell::from(a.environment.clone()),
                Cell::from(a.requested_by.clone()),
                Cell::from(ago(a.requested_at, now)),
                Cell::from(left(a.expires_at, now)),
                Cell::from(risk).style(risk_style),
            ];
            if !wide {
                cells.remove(2); // the stage: the narrow pane keeps who, when and risk
            }
            let row = Row::new(cells);
            if Some(a.id) == selected {
                row.style(theme.selected)
            } else {
                row
            }
        })
        .collect();
    let (header, widths): (Vec<&str>, Vec<Constraint>) = if wide {
        (
            vec![
                "id", "service", "stage", "env", "asked by", "asked", "expires", "risk",
            ],
            vec![
                Constraint::Length(5),
                Constraint::Length(14),
                Constraint::Length(19),
                Constraint::Length(12),
                Constraint::Length(12),
                Constraint::Length(10),
                Constraint::Length(10),
                Constraint::Min(9),
            ],
        )
    } else {
        (
            vec![
                "id", "service", "env", "asked by", "asked", "expires", "risk",
            ],
            vec![
                Constraint::Length(4),
                Constraint::Length(10),
                Constraint::Length(11),
                Constraint::Length(9),
                Constraint::Length(8),
                Constraint::Length(9),
                Constraint::Min(8),
            ],
        )
    };
    let a_key = app
        .keymap
        .key_for(super::keymap::Act::Approve)
        .unwrap_or_default();
    let x_key = app
        .keymap
        .key_for(super::keymap::Act::Reject)
        .unwrap_or_default();
    let title = Line::from(format!(
        " approvals waiting ({}) · {a_key}: approve · {x_key}: reject ",
        app.approvals.len()
    ));
    f.render_widget(
        Table::new(rows, widths)
            .header(Row::new(header).style(theme.muted))
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(title)
                    .border_style(theme.warn),
            ),
        area,
    );
}
