//! The console's state and what keys do to it. Pure: no terminal, no engine — key handling
//! returns the engine commands to send, so it is tested by feeding keys and events.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use ratatui::crossterm::event::{KeyCode, KeyEvent};

pub use super::chart::ChartWindow;
use super::deploy_form::{DeployForm, Outcome};
use super::keymap::{Act, Keymap};
use super::theme::{Theme, Themes};
use crate::config::Config;
use crate::engine::{Command, Event, EventKind, Snapshot};

const EVENT_LOG: usize = 500;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Normal,
    Help,
    /// Typing: a `:` command or a `/` filter.
    Input {
        purpose: Input,
        buffer: String,
    },
    /// A question that needs y (or another listed key).
    Confirm(Confirm),
    /// The deploy form.
    Deploy(DeployForm),
    /// The details view of a service (`details.rs`).
    Details {
        service: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Command,
    Filter,
    /// Approving a production approval: the service name, typed.
    ApproveName {
        id: u64,
        service: String,
    },
    /// Rejecting an approval: the reason.
    RejectReason {
        id: u64,
    },
}

/// Which pane `j`/`k` move in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Services,
    Events,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirm {
    Promote {
        service: String,
    },
    /// Quitting with rollouts in flight.
    Quit {
        in_flight: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Error,
}

pub struct App {
    pub config_path: String,
    pub operator: String,
    pub services: Vec<String>,
    pub selected: usize,
    pub snapshot: Snapshot,
    pub events: VecDeque<(DateTime<Utc>, String, bool)>,
    pub mode: Mode,
    pub emergency: Option<DateTime<Utc>>,
    pub message: Option<(Level, String)>,
    pub quit: bool,
    pub themes: Themes,
    pub theme: Theme,
    /// Services whose name contains this are shown (empty: all).
    pub filter: String,
    pub focus: Focus,
    /// How many of the newest events are scrolled past.
    pub events_scroll: usize,
    /// The effective key bindings (defaults with the keymap file's changes).
    pub keymap: Keymap,
    /// How much time the detail charts show.
    pub chart_window: ChartWindow,
    /// Pending approvals, read from the store each tick (see `approvals.rs`).
    pub approvals: Vec<crate::store::Approval>,
    /// What the details view shows, read from the store while it is open.
    pub details: Option<super::details::Details>,
    /// Every service lease and whether it binds, read from the store each tick; `None` until
    /// read (nothing is called unwatched before the store has been seen).
    pub leases: Option<Vec<(crate::store::Lease, crate::store::Liveness)>>,
    config: std::sync::Arc<Config>,
}

impl App {
    pub fn new(config: std::sync::Arc<Config>, operator: String) -> App {
        App {
            config_path: config.path.display().to_string(),
            operator,
            services: config.services.keys().cloned().collect(),
            selected: 0,
            snapshot: Snapshot::default(),
            events: VecDeque::new(),
            mode: Mode::Normal,
            emergency: None,
            message: None,
            quit: false,
            themes: Themes::built_in(),
            theme: Theme::default(),
            filter: String::new(),
            focus: Focus::Services,
            events_scroll: 0,
            keymap: Keymap::default(),
            chart_window: ChartWindow::FiveMinutes,
            approvals: Vec::new(),
            details: None,
            leases: None,
            config,
        }
    }

    /// The services the table shows, in order.
    pub fn visible(&self) -> Vec<&str> {
        self.services
            .iter()
            .filter(|s| s.contains(&self.filter))
            .map(String::as_str)
            .collect()
    }

    /// Use `themes` (e.g. with a directory's themes added) and switch to `name`.
    pub fn set_themes(&mut self, themes: Themes, name: &str) -> Result<(), String> {
        self.themes = themes;
        self.theme = self.themes.get(name)?;
        Ok(())
    }

    /// The theme an environment asks for (production's red frame), else the current one.
    pub fn theme_for_env(&self, env: Option<&str>) -> Theme {
        env.and_then(|e| self.config.environments.get(e))
            .and_then(|e| e.theme.as_deref())
            .and_then(|t| self.themes.get(t).ok())
            .unwrap_or_else(|| self.theme.clone())
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn selected_service(&self) -> Option<&str> {
        self.visible().get(self.selected).copied()
    }

    /// Deployments that are not finished.
    pub fn in_flight(&self) -> usize {
        self.snapshot
            .services
            .values()
            .filter_map(|s| s.deployment.as_ref())
            .filter(|d| !d.state.is_terminal())
            .count()
    }

    pub fn on_event(&mut self, e: &Event) {
        self.snapshot.apply(e);
        let alarm = matches!(
            e.kind,
            EventKind::Failed { .. }
                | EventKind::HostFailed { .. }
                | EventKind::PolicyRefused { .. }
                | EventKind::RollbackStarted { .. }
                | EventKind::Analysis {
                    verdict: crate::analysis::Verdict::Fail,
                    ..
                }
        );
        // Reads and passing judgements arrive every few seconds; the log keeps what matters.
        let routine = match &e.kind {
            EventKind::HostObserved { .. } => true,
            EventKind::Analysis { verdict, .. } => *verdict != crate::analysis::Verdict::Fail,
            _ => false,
        };
        if !routine {
            self.events
                .push_front((e.at, crate::engine::wording::human(e), alarm));
            self.events.truncate(EVENT_LOG);
        }
        if self.emergency.is_some() && self.all_on_stable() {
            self.emergency = None;
            self.message = Some((
                Level::Info,
                "emergency rollback done: every host verified at stable 100 %".into(),
            ));
        }
    }

    /// `service`'s canary carries traffic on some host (as last read back) while no live sluice
    /// holds its lease: nobody judges it, nobody rolls it back on a breach.
    pub fn unwatched(&self, service: &str) -> bool {
        let Some(leases) = &self.leases else {
            return false;
        };
        let held = leases
            .iter()
            .any(|(l, live)| l.service == service && *live == crate::store::Liveness::Live);
        !held
            && self.snapshot.services.get(service).is_some_and(|s| {
                s.hosts.values().any(|h| {
                    h.canary_weight.is_some_and(|w| w > 0)
                        && h.canary.as_ref().is_some_and(|c| c.running)
                })
            })
    }

    /// Every known host of every service reads back at 0 % canary.
    pub fn all_on_stable(&self) -> bool {
        self.snapshot.services.values().all(|s| {
            s.hosts
                .values()
                .all(|h| h.canary_percent == Some(0) || h.canary_weight == Some(0))
        })
    }

    fn canary_percent(&self, service: &str) -> Option<u8> {
        let s = self.snapshot.services.get(service)?;
        s.hosts.values().filter_map(|h| h.canary_percent).max()
    }

    /// Handle a key; returns the engine commands it asks for.
    pub fn on_key(&mut self, key: KeyEvent) -> Vec<Command> {
        self.message = None;
        match self.mode.clone() {
            Mode::Help => {
                self.mode = Mode::Normal;
                Vec::new()
            }
            Mode::Details { .. } => {
                // Any key closes it; `!` still rolls everything back from here.
                self.mode = Mode::Normal;
                self.details = None;
                if self.keymap.lookup(&key) == Some(Act::RollbackAll) {
                    return self.normal(key);
                }
                Vec::new()
            }
            Mode::Input {
                purpose,
                mut buffer,
            } => match key.code {
                KeyCode::Esc => {
                    self.mode = Mode::Normal;
                    Vec::new()
                }
                KeyCode::Enter => {
                    self.mode = Mode::Normal;
                    self.submit(purpose, buffer.trim())
                }
                KeyCode::Backspace => {
                    buffer.pop();
                    self.mode = Mode::Input { purpose, buffer };
                    Vec::new()
                }
                KeyCode::Char(c) if buffer.len() < 200 => {
                    buffer.push(c);
                    self.mode = Mode::Input { purpose, buffer };
                    Vec::new()
                }
                _ => Vec::new(),
            },
            Mode::Confirm(c) => self.confirm(c, key),
            Mode::Deploy(mut form) => {
                match form.on_key(key, &self.config, &self.operator) {
                    Outcome::Stay => self.mode = Mode::Deploy(form),
                    Outcome::Cancel => {
                        self.mode = Mode::Normal;
                        self.message = Some((Level::Info, "deploy cancelled".into()));
                    }
                    Outcome::Send(c) => {
                        self.mode = Mode::Normal;
                        return vec![c];
                    }
                }
                Vec::new()
            }
            Mode::Normal => self.normal(key),
        }
    }

    fn normal(&mut self, key: KeyEvent) -> Vec<Command> {
        let Some(act) = self.keymap.lookup(&key) else {
            return Vec::new();
        };
        let service = self.selected_service().map(str::to_string);
        match (act, service) {
            (Act::Down, _) => {
                match self.focus {
                    Focus::Services if self.selected + 1 < self.visible().len() => {
                        self.selected += 1
                    }
                    Focus::Events if self.events_scroll + 1 < self.events.len() => {
                        self.events_scroll += 1
                    }
                    _ => {}
                }
                Vec::new()
            }
            (Act::Up, _) => {
                match self.focus {
                    Focus::Services => self.selected = self.selected.saturating_sub(1),
                    Focus::Events => self.events_scroll = self.events_scroll.saturating_sub(1),
                }
                Vec::new()
            }
            (Act::NextPane, _) => {
                self.focus = match self.focus {
                    Focus::Services => Focus::Events,
                    Focus::Events => Focus::Services,
                };
                Vec::new()
            }
            (Act::Filter, _) => {
                self.mode = Mode::Input {
                    purpose: Input::Filter,
                    buffer: self.filter.clone(),
                };
                Vec::new()
            }
            (Act::Back, _) => {
                self.filter.clear();
                self.focus = Focus::Services;
                self.events_scroll = 0;
                Vec::new()
            }
            (Act::Help, _) => {
                self.mode = Mode::Help;
                Vec::new()
            }
            (Act::Command, _) => {
                self.mode = Mode::Input {
                    purpose: Input::Command,
                    buffer: String::new(),
                };
                Vec::new()
            }
            (Act::Quit, _) => self.ask_quit(),
            (Act::ChartWindow, _) => {
                self.chart_window = self.chart_window.next();
                Vec::new()
            }
            (Act::RollbackAll, _) => {
                self.emergency = Some(Utc::now());
                vec![Command::RollbackAll {
                    reason: format!("emergency rollback by {}", self.operator),
                }]
            }
            (Act::Refresh, _) => vec![Command::Refresh { service: None }],
            (Act::Approve, _) => self.approve_key(),
            (Act::Details, Some(service)) => {
                self.mode = Mode::Details { service };
                Vec::new()
            }
            (Act::Reject, _) => self.reject_key(),
            (_, None) => Vec::new(),
            (Act::Deploy, Some(service)) => self.open_deploy(&service, "", None, None),
            (Act::Rollback, Some(service)) => {
                // Said at once: the events follow when the hosts are verified.
                self.message = Some((
                    Level::Info,
                    format!("rolling {service} back to stable 100 % on every host…"),
                ));
                vec![Command::Rollback {
                    service,
                    reason: format!("rollback by {}", self.operator),
                }]
            }
            (Act::Promote, Some(service)) => {
                self.mode = Mode::Confirm(Confirm::Promote { service });
                Vec::new()
            }
            (Act::TakeOver, Some(service)) => {
                self.message = Some((
                    Level::Info,
                    format!("taking {service} over: its canary is judged from here…"),
                ));
                vec![Command::TakeOver { service }]
            }
            (Act::PauseResume, Some(service)) => {
                let paused = self
                    .snapshot
                    .services
                    .get(&service)
                    .and_then(|s| s.deployment.as_ref())
                    .is_some_and(|d| d.state == crate::domain::DeploymentState::Paused);
                let verb = if paused { "resuming" } else { "pausing" };
                self.message = Some((Level::Info, format!("{verb} {service}…")));
                if paused {
                    vec![Command::Resume { service }]
                } else {
                    vec![Command::Pause { service }]
                }
            }
            (Act::WeightUp | Act::WeightDown, Some(service)) => {
                let now = self.canary_percent(&service).unwrap_or(0);
                let next = if act == Act::WeightUp {
                    now.saturating_add(10).min(100)
                } else {
                    now.saturating_sub(10)
                };
                self.message = Some((
                    Level::Info,
                    format!("moving {service}'s canary from {now} % to {next} %…"),
                ));
                vec![Command::SetWeight {
                    service,
                    canary_percent: next,
                }]
            }
        }
    }

    fn ask_quit(&mut self) -> Vec<Command> {
        let in_flight = self.in_flight();
        if in_flight == 0 {
            self.quit = true;
        } else {
            self.mode = Mode::Confirm(Confirm::Quit { in_flight });
        }
        Vec::new()
    }

    fn confirm(&mut self, c: Confirm, key: KeyEvent) -> Vec<Command> {
        self.mode = Mode::Normal;
        let yes = matches!(key.code, KeyCode::Char('y') | KeyCode::Char('Y'));
        match c {
            Confirm::Promote { service } if yes => vec![Command::Promote { service }],
            Confirm::Quit { .. } => match key.code {
                KeyCode::Char('r') => {
                    self.quit = true;
                    vec![Command::RollbackAll {
                        reason: format!(
                            "{} quit the console and asked for a rollback",
                            self.operator
                        ),
                    }]
                }
                KeyCode::Char('l') => {
                    self.quit = true;
                    Vec::new()
                }
                _ => Vec::new(),
            },
            _ => {
                self.message = Some((Level::Info, "cancelled".into()));
                Vec::new()
            }
        }
    }

    fn submit(&mut self, purpose: Input, text: &str) -> Vec<Command> {
        match purpose {
            Input::Command => self.command(text),
            p @ (Input::ApproveName { .. } | Input::RejectReason { .. }) => {
                self.submit_approval(p, text)
            }
            Input::Filter => {
                self.filter = text.to_string();
                self.selected = 0;
                Vec::new()
            }
        }
    }

    /// Open the deploy form for `service`, prefilled with what was typed after `:deploy`.
    fn open_deploy(
        &mut self,
        service: &str,
        version: &str,
        strategy: Option<&str>,
        override_reason: Option<String>,
    ) -> Vec<Command> {
        let mut form = DeployForm::new(&self.config, service);
        form.version = version.to_string();
        form.override_reason = override_reason;
        if let Some(s) = strategy {
            form.strategy = s.to_string();
        }
        if !version.is_empty() {
            form.focus = super::deploy_form::Field::Strategy;
        }
        self.mode = Mode::Deploy(form);
        Vec::new()
    }

    fn command(&mut self, text: &str) -> Vec<Command> {
        // `:deploy SVC V [STRATEGY] --override REASON…`: the rest of the line is the reason.
        let (text, override_reason) = match text.split_once("--override") {
            Some((head, reason)) if head.trim_start().starts_with("deploy ") => {
                let reason = reason.trim();
                if reason.is_empty() {
                    self.message = Some((
                        Level::Error,
                        "--override needs a reason: :deploy SVC VERSION --override REASON".into(),
                    ));
                    return Vec::new();
                }
                (head.trim(), Some(reason.to_string()))
            }
            _ => (text, None),
        };
        let words: Vec<&str> = text.split_whitespace().collect();
        let known = |s: &str| self.services.iter().any(|x| x == s);
        let err = |app: &mut App, m: String| {
            app.message = Some((Level::Error, m));
            Vec::new()
        };
        match words.as_slice() {
            ["q"] | ["quit"] => self.ask_quit(),
            ["theme", name] => match self.themes.get(name) {
                Ok(t) => {
                    self.theme = t;
                    self.message = Some((Level::Info, format!("theme {name}")));
                    Vec::new()
                }
                Err(e) => err(self, e),
            },
            // The form shows the plan and asks to confirm, however much was typed here.
            ["deploy"] => match self.selected_service().map(str::to_string) {
                Some(s) => self.open_deploy(&s, "", None, override_reason),
                None => err(self, "no service selected: deploy SVC [VERSION [STRATEGY]]".into()),
            },
            ["deploy", s] if known(s) => self.open_deploy(s, "", None, override_reason),
            ["deploy", s, v] if known(s) => self.open_deploy(s, v, None, override_reason),
            ["deploy", s, v, strategy] if known(s) => {
                self.open_deploy(s, v, Some(strategy), override_reason)
            }
            ["rollback", s] if known(s) => vec![Command::Rollback {
                service: s.to_string(),
                reason: format!("rollback by {}", self.operator),
            }],
            ["promote", s] if known(s) => {
                self.mode = Mode::Confirm(Confirm::Promote {
                    service: s.to_string(),
                });
                Vec::new()
            }
            ["take-over", s] if known(s) => vec![Command::TakeOver {
                service: s.to_string(),
            }],
            ["weight", s, n] if known(s) => match n.parse::<u8>() {
                Ok(p) if p <= 100 => vec![Command::SetWeight {
                    service: s.to_string(),
                    canary_percent: p,
                }],
                _ => err(self, format!("weight `{n}` is not a percentage 0..=100")),
            },
            [_, s, ..] if !known(s) => err(self, format!("unknown service `{s}`")),
            _ => err(
                self,
                format!("unknown command `{text}`; try deploy [SVC [VERSION [STRATEGY]]] | rollback SVC | promote SVC | weight SVC N | take-over SVC | theme NAME | q"),
            ),
        }
    }
}
