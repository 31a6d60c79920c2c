//! Colours by meaning, not by widget.

use ratatui::style::{Color, Modifier, Style};

#[derive(Debug, Clone)]
pub struct Theme {
    pub ok: Style,
    pub warn: Style,
    pub critical: Style,
    pub muted: Style,
    pub accent: Style,
    pub stable: Style,
    pub canary: Style,
    pub title: Style,
    pub selected: Style,
    pub production_frame: Style,
}

impl Default for Theme {
    fn default() -> Self {
        Theme {
            ok: Style::new().fg(Color::Green),
            warn: Style::new().fg(Color::Yellow),
            critical: Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
            muted: Style::new().fg(Color::DarkGray),
            accent: Style::new().fg(Color::Cyan),
            stable: Style::new().fg(Color::Blue),
            canary: Style::new().fg(Color::Magenta),
            title: Style::new().add_modifier(Modifier::BOLD),
            selected: Style::new().add_modifier(Modifier::REVERSED),
            production_frame: Style::new().fg(Color::Red),
        }
    }
}
