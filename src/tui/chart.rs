//! The detail charts: error rate and P99 of both tracks over a chosen window (5 min, 1 h at
//! 1-second resolution; 24 h from 1-minute buckets), with the threshold drawn in.

use chrono::{DateTime, Utc};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders};
use ratatui::Frame;

use super::theme::Theme;
use crate::engine::snapshot::ServiceSnapshot;

/// How much time the detail charts show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartWindow {
    FiveMinutes,
    Hour,
    Day,
}

impl ChartWindow {
    pub fn next(self) -> ChartWindow {
        match self {
            ChartWindow::FiveMinutes => ChartWindow::Hour,
            ChartWindow::Hour => ChartWindow::Day,
            ChartWindow::Day => ChartWindow::FiveMinutes,
        }
    }

    pub fn secs(self) -> i64 {
        match self {
            ChartWindow::FiveMinutes => 300,
            ChartWindow::Hour => 3600,
            ChartWindow::Day => 86_400,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ChartWindow::FiveMinutes => "5 min",
            ChartWindow::Hour => "1 h",
            ChartWindow::Day => "24 h",
        }
    }
}

/// The detail charts' time window and clock.
pub struct Chart {
    pub window: ChartWindow,
    pub window_key: Option<String>,
    pub now: DateTime<Utc>,
}

impl Chart {
    /// One metric over the window for both tracks, with the threshold drawn in. x: seconds
    /// ago. Beyond an hour each point is a minute's worst value.
    #[allow(clippy::too_many_arguments)]
    pub fn draw(
        &self,
        f: &mut Frame,
        area: Rect,
        s: &ServiceSnapshot,
        theme: &Theme,
        title: &str,
        threshold: f64,
        value: fn(&crate::engine::snapshot::history::Sample) -> f64,
    ) {
        use ratatui::symbols::Marker;
        use ratatui::widgets::{Axis, Chart as Plot, Dataset, GraphType};
        let span = self.window.secs() as f64;
        let now = self.now.timestamp();
        let points = |t: &crate::engine::snapshot::TrackAnalysis| -> Vec<(f64, f64)> {
            t.history
                .samples(self.now, self.window.secs())
                .iter()
                .map(|p| (-((now - p.at) as f64), value(p)))
                .filter(|(_, y)| y.is_finite())
                .collect()
        };
        let stable = points(&s.stable);
        let canary = points(&s.canary);
        let top = stable
            .iter()
            .chain(canary.iter())
            .map(|p| p.1)
            .fold(threshold * 1.5, f64::max);
        let line = vec![(-span, threshold), (0.0, threshold)];
        let datasets = vec![
            Dataset::default()
                .name("max")
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(theme.critical)
                .data(&line),
            Dataset::default()
                .name("stable")
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(theme.stable)
                .data(&stable),
            Dataset::default()
                .name("canary")
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(theme.canary)
                .data(&canary),
        ];
        let per = if self.window.secs() > 3600 {
            ", per-minute max"
        } else {
            ""
        };
        let key = self
            .window_key
            .as_deref()
            .map_or(String::new(), |k| format!(" ({k})"));
        // The legend lives in the title, so it never covers the lines.
        let chart = Plot::new(datasets)
            .legend_position(None)
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(Line::from(vec![
                        Span::raw(format!(
                            " {title} · last {}{per}{key} · ",
                            self.window.label()
                        )),
                        Span::styled("stable", theme.stable),
                        Span::raw(" "),
                        Span::styled("canary", theme.canary),
                        Span::raw(" "),
                        Span::styled("max", theme.critical),
                        Span::raw(" "),
                    ])),
            )
            .x_axis(
                Axis::default()
                    .bounds([-span, 0.0])
                    .labels([format!("-{}", self.window.label()), "now".to_string()])
                    .style(theme.muted),
            )
            .y_axis(
                Axis::default()
                    .bounds([0.0, top])
                    .labels(["0".to_string(), format!("{top:.0}")])
                    .style(theme.muted),
            );
        f.render_widget(chart, area);
    }
}
