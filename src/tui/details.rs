//! The details view (`enter`): the selected service's latest deployment as the journal has it
//! (every state, step, judgement and note, with times) and who holds its lease. Read from the
//! store when it opens and every tick while open, so work by other processes shows too.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::app::App;
use super::theme::Theme;
use crate::store::{DeploymentRecord, JournalEntry, Liveness, Store};

/// What the view shows, read from the store.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Details {
    pub service: String,
    pub deployment: Option<DeploymentRecord>,
    /// The journal of `deployment`, oldest first.
    pub journal: Vec<JournalEntry>,
    /// Who holds the service's lease, described; `None` when nobody does.
    pub lease: Option<String>,
    /// Why the store could not be read.
    pub error: Option<String>,
}

impl Details {
    pub fn read(store: &Store, service: &str) -> Details {
        let read = || -> Result<Details, crate::store::StoreError> {
            let deployment = store.deployments(Some(service), 1)?.into_iter().next();
            let journal = match &deployment {
                Some(r) => store.journal(r.id)?,
                None => Vec::new(),
            };
            let lease = store
                .leases()?
                .into_iter()
                .find(|(l, _)| l.service == service)
                .map(|(l, live)| match live {
                    Liveness::Live => l.describe(),
                    Liveness::Expired => format!("expired: {}", l.describe()),
                    Liveness::HolderDead => format!("holder gone: {}", l.describe()),
                });
            Ok(Details {
                service: service.to_string(),
                deployment,
                journal,
                lease,
                error: None,
            })
        };
        read().unwrap_or_else(|e| Details {
            service: service.to_string(),
            error: Some(e.to_string()),
            ..Details::default()
        })
    }
}

pub fn draw(f: &mut Frame, app: &App, service: &str, theme: &Theme) {
    let area = f.area();
    let area = Rect::new(
        area.x + 2,
        area.y + 1,
        area.width.saturating_sub(4),
        area.height.saturating_sub(2),
    );
    let mut lines: Vec<Line> = Vec::new();
    let d = app.details.as_ref().filter(|d| d.service == service);
    let title = match d.and_then(|d| d.deployment.as_ref()) {
        Some(r) => format!(
            " {service} · deployment #{} {} → {} by {} ({}) · {} · esc closes ",
            r.id,
            r.previous.as_deref().unwrap_or("?"),
            r.version,
            r.operator,
            r.strategy,
            r.state
        ),
        None => format!(" {service} · esc closes "),
    };
    match d {
        None => lines.push(Line::raw("reading the journal…")),
        Some(d) => {
            if let Some(e) = &d.error {
                lines.push(Line::styled(
                    format!("the store cannot be read: {e}"),
                    theme.critical,
                ));
            }
            lines.push(Line::from(vec![
                Span::styled("lease  ", theme.accent),
                Span::raw(d.lease.clone().unwrap_or_else(|| "nobody holds it".into())),
            ]));
            match &d.deployment {
                None => lines.push(Line::raw("no deployment of this service in the journal")),
                Some(r) => {
                    lines.push(Line::from(vec![
                        Span::styled("started ", theme.accent),
                        Span::raw(format!(
                            "{}   last change {}",
                            r.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
                            r.updated_at.format("%H:%M:%S UTC")
                        )),
                    ]));
                    lines.push(Line::raw(""));
                    // The newest entries that fit, oldest of them first.
                    let room = area.height.saturating_sub(2) as usize;
                    let room = room.saturating_sub(lines.len());
                    let skip = d.journal.len().saturating_sub(room);
                    for e in &d.journal[skip..] {
                        let step = match (e.step, e.canary_percent) {
                            (Some(s), Some(p)) => format!("step {s} {p:>3} %"),
                            (None, Some(p)) => format!("       {p:>3} %"),
                            _ => String::new(),
                        };
                        lines.push(Line::from(vec![
                            Span::styled(format!("{} ", e.at.format("%H:%M:%S")), theme.muted),
                            Span::styled(format!("{:<12}", e.state.as_str()), theme.accent),
                            Span::raw(format!("{step:<13}")),
                            Span::raw(e.note.clone()),
                        ]));
                    }
                }
            }
        }
    }
    f.render_widget(Clear, area);
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::default().borders(Borders::ALL).title(title)),
        area,
    );
}
