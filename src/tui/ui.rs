//! Drawing the console from the app state. No I/O: rendered into a TestBackend in tests.

use chrono::{DateTime, Utc};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table, TableState, Wrap};
use ratatui::Frame;

use super::app::{App, Confirm, Focus, Input, Level, Mode};
use super::keymap::Act;
use super::theme::Theme;
use crate::engine::snapshot::{HostSnapshot, ServiceSnapshot};

/// A host reading older than this is shown as stale.
const STALE_AFTER_SECS: i64 = 15;

pub fn draw(f: &mut Frame, app: &App, now: DateTime<Utc>) {
    let theme = &app.theme;
    let hosts = app
        .selected_service()
        .and_then(|s| app.config().services.get(s))
        .map_or(0, |s| s.hosts.len() as u16);
    let [header, services, detail, events, bar] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Length((app.visible().len() as u16 + 3).min(12)),
        // Each host a row, plus room for one error line under a failing host.
        Constraint::Length(if f.area().width >= 140 {
            (hosts + 4).clamp(16, 24)
        } else {
            (hosts + 4).clamp(6, 24)
        }),
        Constraint::Min(5),
        Constraint::Length(1),
    ])
    .areas(f.area());
    draw_header(f, header, app, theme, now);
    draw_services(f, services, app, theme, now);
    draw_detail(f, detail, app, theme, now);
    let pane = super::approvals::height(app.approvals.len()).min(events.height.saturating_sub(3));
    let [approvals, events] =
        Layout::vertical([Constraint::Length(pane), Constraint::Min(0)]).areas(events);
    if pane > 0 {
        super::approvals::draw(f, approvals, app, theme, now);
    }
    draw_events(f, events, app, theme);
    draw_bar(f, bar, app, theme);
    match &app.mode {
        Mode::Help => draw_help(f, app, theme),
        Mode::Confirm(c) => draw_confirm(f, c, theme),
        Mode::Input { purpose, buffer } => draw_input(f, purpose, buffer, theme),
        Mode::Deploy(form) => super::deploy_form::view::draw(f, app, form, theme),
        Mode::Details { service } => super::details::draw(f, app, service, theme),
        Mode::Normal => {}
    }
}

fn draw_header(f: &mut Frame, area: Rect, app: &App, theme: &Theme, now: DateTime<Utc>) {
    // One clock for everything on screen (header, events, bake deadlines): UTC.
    let clock = now.format("%H:%M:%S UTC");
    let envs: Vec<&str> = app
        .config()
        .environments
        .keys()
        .map(String::as_str)
        .collect();
    let line1 = Line::from(vec![
        Span::styled("sluice ", theme.title),
        Span::raw(format!(
            "{} · {} · {} · ",
            file_name(&app.config_path),
            envs.join(","),
            app.operator
        )),
        Span::styled(format!("{} in flight", app.in_flight()), theme.accent),
        Span::raw(format!(" · {clock}")),
    ]);
    let line2 = if let Some(since) = app.emergency {
        Line::styled(
            format!(
                " !!! EMERGENCY ROLLBACK IN PROGRESS since {} — moving every service to stable !!!",
                since.format("%H:%M:%S")
            ),
            theme.critical,
        )
    } else {
        match &app.message {
            Some((Level::Error, m)) => Line::styled(m.clone(), theme.critical),
            Some((Level::Info, m)) => Line::styled(m.clone(), theme.ok),
            None => Line::styled(
                "weights are read back from the hosts; g re-reads now",
                theme.muted,
            ),
        }
    };
    f.render_widget(Paragraph::new(vec![line1, line2]), area);
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn split_of(s: &ServiceSnapshot) -> (String, bool) {
    let shares: Vec<u8> = s.hosts.values().filter_map(|h| h.canary_percent).collect();
    match (shares.iter().min(), shares.iter().max()) {
        (Some(lo), Some(hi)) if lo == hi => (format!("{}/{}", 100 - lo, lo), false),
        (Some(lo), Some(hi)) => (format!("{lo}..{hi}%"), true),
        _ => ("?".into(), false),
    }
}

fn versions(s: &ServiceSnapshot) -> (String, String) {
    let pick = |f: fn(&HostSnapshot) -> Option<&crate::domain::StackState>| {
        let mut v: Vec<String> = s
            .hosts
            .values()
            .filter_map(f)
            .filter(|st| st.running)
            .filter_map(|st| st.version.clone())
            .collect();
        v.sort();
        v.dedup();
        if v.is_empty() {
            "-".to_string()
        } else {
            v.join(",")
        }
    };
    (pick(|h| h.stable.as_ref()), pick(|h| h.canary.as_ref()))
}

/// The canary's latest judgement: error rate and P99, coloured by verdict, with its sample
/// count when inconclusive, and marked stale when it is older than three intervals.
fn analysis_cell<'a>(
    t: &crate::engine::snapshot::TrackAnalysis,
    app: &App,
    theme: &Theme,
    now: DateTime<Utc>,
) -> Cell<'a> {
    let Some(p) = &t.latest else {
        return Cell::from("-").style(theme.muted);
    };
    let interval = app.config().analysis.interval.as_secs().max(1) as i64;
    if (now - p.at).num_seconds() > 3 * interval {
        return Cell::from(format!("stale {}s", (now - p.at).num_seconds())).style(theme.muted);
    }
    let text = format!("{:.1}% {:.0}ms", p.error_rate * 100.0, p.p99_ms);
    match p.verdict {
        crate::analysis::Verdict::Pass => Cell::from(text).style(theme.ok),
        crate::analysis::Verdict::Fail => Cell::from(text).style(theme.critical),
        // No figures at all: the metric source failed (the event log says why).
        crate::analysis::Verdict::Inconclusive if p.error_rate.is_nan() => {
            Cell::from("no data").style(theme.warn)
        }
        crate::analysis::Verdict::Inconclusive => {
            Cell::from(format!("n={} too few", p.requests)).style(theme.warn)
        }
    }
}

/// The latest risk assessment: "27 medium" (or "27 M" on a narrow terminal), coloured by level.
fn risk_cell<'a>(s: &ServiceSnapshot, theme: &Theme, narrow: bool) -> Cell<'a> {
    use crate::policy::Level;
    let Some(r) = &s.risk else {
        return Cell::from("-").style(theme.muted);
    };
    let text = if narrow {
        let l = r.level.to_string();
        format!("{} {}", r.score, l[..1].to_ascii_uppercase())
    } else {
        format!("{} {}", r.score, r.level)
    };
    let style = match r.level {
        Level::Low => theme.ok,
        Level::Medium => Style::new(),
        Level::High => theme.warn,
        Level::Critical => theme.critical,
    };
    Cell::from(text).style(style)
}

fn draw_services(f: &mut Frame, area: Rect, app: &App, theme: &Theme, now: DateTime<Utc>) {
    // Below 100 columns the table gives up a little width per column for the risk.
    let narrow = area.width < 100;
    let header = Row::new([
        "SERVICE",
        "STABLE",
        "CANARY",
        "SPLIT s/c",
        "CANARY ERR P99",
        "RISK",
        "STATE",
    ])
    .style(theme.title);
    let empty = ServiceSnapshot::default();
    let rows = app.visible().into_iter().map(|name| {
        let s = app.snapshot.services.get(name).unwrap_or(&empty);
        let (split, disagree) = split_of(s);
        let (stable, canary) = versions(s);
        let state = match &s.deployment {
            Some(d) if d.state.is_terminal() => d.state.to_string(),
            Some(d) if d.phase.is_some() => phase_label(d, now),
            Some(d) if !d.steps.is_empty() && d.step > 0 => {
                format!(
                    "{}/{} {}% {}",
                    d.step,
                    d.steps.len(),
                    d.canary_percent,
                    d.state
                )
            }
            Some(d) => format!("{}% {}", d.canary_percent, d.state),
            None => "idle".to_string(),
        };
        let unwatched = app.unwatched(name);
        let state = if unwatched {
            format!("UNWATCHED {state}")
        } else {
            state
        };
        let state_style = match s.deployment.as_ref().map(|d| d.state) {
            _ if unwatched => theme.critical,
            Some(crate::domain::DeploymentState::Failed) => theme.critical,
            Some(crate::domain::DeploymentState::RolledBack) => theme.warn,
            Some(crate::domain::DeploymentState::Succeeded) => theme.ok,
            Some(_) => theme.accent,
            None => theme.muted,
        };
        let row = Row::new(vec![
            Cell::from(name.to_string()),
            Cell::from(stable).style(theme.stable),
            Cell::from(canary).style(theme.canary),
            Cell::from(if disagree {
                format!("⚠ {split}")
            } else {
                split
            })
            .style(if disagree { theme.warn } else { Style::new() }),
            analysis_cell(&s.canary, app, theme, now),
            risk_cell(s, theme, narrow),
            Cell::from(state).style(state_style),
        ]);
        row
    });
    let (name_w, version_w, err_w, risk_w) = if narrow {
        (10, 7, 14, 4)
    } else {
        (12, 8, 15, 11)
    };
    let table = Table::new(
        rows,
        [
            Constraint::Length(name_w),
            Constraint::Length(version_w),
            Constraint::Length(version_w),
            Constraint::Length(9),
            Constraint::Length(err_w),
            Constraint::Length(risk_w),
            Constraint::Min(19),
        ],
    )
    .header(header)
    .block(
        Block::default()
            .borders(Borders::ALL)
            .title(if app.filter.is_empty() {
                " services ".to_string()
            } else {
                format!(" services matching `{}` (esc clears) ", app.filter)
            })
            .border_style(if app.focus == Focus::Services {
                theme.accent
            } else {
                Style::new()
            }),
    );
    // Stateful, so the table scrolls to keep the selected service in view.
    let mut state = TableState::default().with_selected(Some(app.selected));
    f.render_stateful_widget(table.row_highlight_style(theme.selected), area, &mut state);
}

/// A blue/green or rolling deployment's phase ("switched · blue kept 8s"); held when paused.
fn phase_label(d: &crate::engine::snapshot::DeploymentSnapshot, now: DateTime<Utc>) -> String {
    match &d.phase {
        Some(p) if d.state == crate::domain::DeploymentState::Paused => p.held_label(),
        Some(p) => p.label(now),
        None => String::new(),
    }
}

fn age(now: DateTime<Utc>, at: Option<DateTime<Utc>>) -> (String, bool) {
    match at {
        Some(t) => {
            let secs = (now - t).num_seconds().max(0);
            (format!("{secs}s ago"), secs > STALE_AFTER_SECS)
        }
        None => ("never".into(), true),
    }
}

fn draw_detail(f: &mut Frame, area: Rect, app: &App, theme: &Theme, now: DateTime<Utc>) {
    let Some(name) = app.selected_service() else {
        return;
    };
    let env = app
        .config()
        .services
        .get(name)
        .and_then(|svc| app.config().service_environment(svc));
    let production =
        env.is_some_and(|e| e.theme.is_some() || e.approval == crate::config::Approval::Required);
    let env_theme = app.theme_for_env(env.map(|e| e.name.as_str()));
    let empty = ServiceSnapshot::default();
    let s = app.snapshot.services.get(name).unwrap_or(&empty);
    let header = Row::new([
        "HOST",
        "STABLE w",
        "CANARY w",
        "CANARY %",
        "STABLE STACK",
        "CANARY STACK",
        "READ",
    ])
    .style(theme.title);
    let hosts: Vec<String> = app
        .config()
        .services
        .get(name)
        .map(|svc| svc.hosts.clone())
        .unwrap_or_default();
    let none = HostSnapshot::default();
    let mut rows: Vec<Row> = Vec::new();
    for h in &hosts {
        let hs = s.hosts.get(h).unwrap_or(&none);
        let (read, stale) = age(now, hs.updated_at);
        let w = |v: Option<u32>| v.map_or("?".to_string(), crate::domain::weight_label);
        let stack = |st: &Option<crate::domain::StackState>| {
            st.as_ref().map_or("?".to_string(), |s| s.label())
        };
        let style = if hs.error.is_some() {
            theme.critical
        } else if stale {
            theme.muted
        } else {
            Style::new()
        };
        rows.push(
            Row::new(vec![
                h.clone(),
                w(hs.stable_weight),
                w(hs.canary_weight),
                hs.canary_percent.map_or("?".into(), |p| format!("{p} %")),
                stack(&hs.stable),
                stack(&hs.canary),
                if stale { format!("STALE {read}") } else { read },
            ])
            .style(style),
        );
        if let Some(e) = &hs.error {
            rows.push(
                Row::new(vec![format!("  ↳ {}", e.lines().next().unwrap_or(""))])
                    .style(theme.critical),
            );
        }
    }
    let mut title = format!(" {name} ");
    if let Some(d) = &s.deployment {
        title.push_str(&format!(
            "· deployment #{} {} by {} ({}) ",
            d.id, d.version, d.operator, d.strategy
        ));
        if d.phase.is_some() && !d.state.is_terminal() {
            title.push_str(&format!("· {} ", phase_label(d, now)));
        }
        if let Some(until) = d.bake_until.filter(|_| !d.state.is_terminal()) {
            let left = (until - now).num_seconds().max(0);
            title.push_str(&format!("· bake {left}s left "));
        }
    }
    let border = if production {
        env_theme.production_frame
    } else {
        Style::new()
    };
    let mut block = Block::default()
        .borders(Borders::ALL)
        .title(title)
        .border_style(border);
    if let Some(err) = s.deployment.as_ref().and_then(|d| d.last_error.as_ref()) {
        // A first line that ends in `:` says nothing without the next one.
        let mut lines = err.lines().map(str::trim).filter(|l| !l.is_empty());
        let mut text = lines.next().unwrap_or("").to_string();
        if text.ends_with(':') {
            if let Some(next) = lines.next() {
                text.push(' ');
                text.push_str(next);
            }
        }
        block = block.title_bottom(Line::styled(
            format!(" last error: {text} "),
            theme.critical,
        ));
    }
    let table = Table::new(
        rows,
        [
            Constraint::Length(10),
            Constraint::Length(9),
            Constraint::Length(9),
            Constraint::Length(9),
            Constraint::Length(14),
            Constraint::Length(16),
            Constraint::Min(10),
        ],
    )
    .header(header)
    .block(block);
    // Wide terminals get the analysis charts beside the hosts.
    if area.width >= 140 && (!s.canary.history.is_empty() || !s.stable.history.is_empty()) {
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
                .areas(area);
        f.render_widget(table, left);
        let [top, bottom] =
            Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(right);
        let a = &app.config().analysis;
        let chart = super::chart::Chart {
            window: app.chart_window,
            window_key: app.keymap.key_for(super::keymap::Act::ChartWindow),
            now,
        };
        chart.draw(
            f,
            top,
            s,
            theme,
            "error rate %",
            a.error_rate_max * 100.0,
            |p| p.error_rate * 100.0,
        );
        chart.draw(
            f,
            bottom,
            s,
            theme,
            "P99 ms",
            a.p99_max.as_secs_f64() * 1000.0,
            |p| p.p99_ms,
        );
    } else {
        f.render_widget(table, area);
    }
}

fn draw_events(f: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let lines: Vec<Line> = app
        .events
        .iter()
        .skip(app.events_scroll)
        .take(area.height.saturating_sub(2) as usize)
        .map(|(_, text, alarm)| {
            if *alarm {
                Line::styled(text.clone(), theme.critical)
            } else {
                Line::raw(text.clone())
            }
        })
        .collect();
    f.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title(if app.events_scroll == 0 {
                    " events (newest first) ".to_string()
                } else {
                    format!(
                        " events (newest first, {} newer above; esc: back to top) ",
                        app.events_scroll
                    )
                })
                .border_style(if app.focus == Focus::Events {
                    theme.accent
                } else {
                    Style::new()
                }),
        ),
        area,
    );
}

fn draw_bar(f: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let mut spans = Vec::new();
    // A canary nobody judges: the way out comes first.
    if let Some(service) = app.selected_service().filter(|s| app.unwatched(s)) {
        let key = |act| app.keymap.key_for(act).unwrap_or_else(|| ":".into());
        spans.push(Span::styled(
            format!(
                " {service} UNWATCHED: {} take over · {} roll back ",
                key(Act::TakeOver),
                key(Act::Rollback)
            ),
            theme.critical,
        ));
    }
    for b in app.keymap.bound().filter(|b| b.info().in_bar) {
        // The bar is short of room at 80 columns.
        let first = b.keys.first().map(|k| k.label()).unwrap_or_default();
        let first = if first == "space" {
            "spc".into()
        } else {
            first
        };
        spans.push(Span::styled(format!(" {first} "), theme.accent));
        spans.push(Span::styled(b.info().short, theme.muted));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

fn draw_help(f: &mut Frame, app: &App, theme: &Theme) {
    let bound: Vec<_> = app.keymap.bound().collect();
    let area = centered(f.area(), 120, bound.len() as u16 + 2);
    let width = bound
        .iter()
        .map(|b| b.label().chars().count())
        .max()
        .unwrap_or(0);
    let lines: Vec<Line> = bound
        .iter()
        .map(|b| {
            Line::from(vec![
                Span::styled(format!(" {:>width$}  ", b.label()), theme.accent),
                Span::raw(b.info().help),
            ])
        })
        .collect();
    f.render_widget(Clear, area);
    f.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" keys (any key closes) "),
        ),
        area,
    );
}

fn draw_confirm(f: &mut Frame, c: &Confirm, theme: &Theme) {
    let text = match c {
        Confirm::Promote { service } => format!(
            "Promote the canary of {service} to stable on every host?\n\n y: promote    any other key: cancel"
        ),
        Confirm::Quit { in_flight } => format!(
            "{in_flight} rollout(s) in flight.\n\n r: roll them all back to stable and quit\n l: leave the hosts as they are and quit\n any other key: stay"
        ),
    };
    let area = centered(f.area(), 76, 8);
    f.render_widget(Clear, area);
    f.render_widget(
        Paragraph::new(text).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" confirm ")
                .border_style(theme.warn),
        ),
        area,
    );
}

fn draw_input(f: &mut Frame, purpose: &Input, buffer: &str, theme: &Theme) {
    let prompt = match purpose {
        Input::Command => ":".to_string(),
        Input::Filter => "/".to_string(),
        Input::ApproveName { id, service } => {
            format!("approve #{id}: type {service} to confirm: ")
        }
        Input::RejectReason { id } => format!("reject #{id}, reason: "),
    };
    let area = centered(f.area(), 70, 3);
    f.render_widget(Clear, area);
    f.render_widget(
        Paragraph::new(format!("{prompt}{buffer}▏")).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" enter: ok · esc: cancel ")
                .border_style(theme.accent),
        ),
        area,
    );
}
