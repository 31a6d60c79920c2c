//! Drawing the deploy form over the console.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::{plan, DeployForm, Field};
use crate::tui::app::App;
use crate::tui::theme::Theme;

pub fn draw(f: &mut Frame, app: &App, form: &DeployForm, theme: &Theme) {
    let config = app.config();
    let svc = config.services.get(&form.service);
    let env = svc.and_then(|s| config.service_environment(s));
    let production = env.is_some_and(|e| e.approval == crate::config::Approval::Required);
    let frame = if production {
        app.theme_for_env(env.map(|e| e.name.as_str()))
            .production_frame
    } else {
        theme.accent
    };

    let mut lines = vec![Line::from(vec![
        Span::styled("environment ", theme.muted),
        Span::styled(
            env.map_or("?".to_string(), |e| e.name.clone()),
            if production { theme.critical } else { theme.ok },
        ),
        Span::styled("  hosts ", theme.muted),
        Span::raw(svc.map_or(String::new(), |s| s.hosts.join(", "))),
    ])];
    lines.push(Line::raw(""));
    for (field, label, value) in [
        (Field::Version, "version ", &form.version),
        (Field::Strategy, "strategy", &form.strategy),
    ] {
        let focused = form.focus == field;
        let mut spans = vec![
            Span::styled(
                format!("{} {label} ", if focused { "▸" } else { " " }),
                if focused { theme.accent } else { theme.muted },
            ),
            Span::styled(
                value.clone(),
                if focused {
                    theme.selected
                } else {
                    Style::new()
                },
            ),
        ];
        if focused {
            spans.push(Span::styled("▏", theme.accent));
        }
        if field == Field::Strategy {
            spans.push(Span::styled("  ←/→ choose", theme.muted));
        }
        lines.push(Line::from(spans));
        if let Some(p) = form.problem(config, field) {
            let loud = form.tried || !(field == Field::Version && form.version.is_empty());
            lines.push(Line::styled(
                format!("            {p}"),
                if loud { theme.critical } else { theme.muted },
            ));
        }
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled("what will happen", theme.title));
    for p in plan(config, &app.snapshot, form) {
        lines.push(match p.strip_prefix("! ") {
            Some(w) => Line::styled(format!(" ! {w}"), theme.warn),
            None => Line::raw(format!(" · {p}")),
        });
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        if form.valid(config) {
            "enter: deploy now · tab/shift-tab: next field · esc: cancel"
        } else {
            "fix the fields in red to deploy · tab/shift-tab: next field · esc: cancel"
        },
        if form.valid(config) {
            theme.ok
        } else {
            theme.muted
        },
    ));

    let area = f.area();
    // Narrow terminals: the whole width, so the form's border is not doubled by the panes'.
    let width = if area.width < 104 { area.width } else { 100 };
    let inner = width.saturating_sub(2).max(1) as usize;
    let rows: usize = lines.iter().map(|l| l.width().max(1).div_ceil(inner)).sum();
    let height = (rows as u16 + 2).min(area.height);
    let rect = Rect::new(
        area.x + (area.width - width) / 2,
        area.y + (area.height - height) / 2,
        width,
        height,
    );
    f.render_widget(Clear, rect);
    f.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .title(format!(" deploy {} ", form.service))
                .border_style(frame),
        ),
        rect,
    );
}
