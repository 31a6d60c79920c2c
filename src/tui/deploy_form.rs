//! The deploy form: version and strategy for one service, with the environment and hosts it
//! will touch, and the plan (steps, bake, hosts, analysis thresholds) shown before anything
//! is sent. Pure: keys in, an outcome out; invalid input is shown in the form, never sent.

pub mod view;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::config::{Config, Finally, OnInconclusive, StrategyKind};
use crate::domain::Version;
use crate::engine::{Command, Snapshot};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Version,
    Strategy,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployForm {
    pub service: String,
    pub version: String,
    pub strategy: String,
    pub focus: Field,
    /// Enter was pressed with invalid input: the problems are shown loudly.
    pub tried: bool,
    /// `:deploy … --override REASON`: start even though policy refuses (audited).
    pub override_reason: Option<String>,
}

/// What a key did to the form.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Stay,
    Cancel,
    Send(Command),
}

const MAX_INPUT: usize = 128;

impl DeployForm {
    /// A form for `service`, its strategy preselected.
    pub fn new(config: &Config, service: &str) -> DeployForm {
        DeployForm {
            service: service.to_string(),
            version: String::new(),
            strategy: config
                .services
                .get(service)
                .map(|s| s.strategy.clone())
                .unwrap_or_default(),
            focus: Field::Version,
            tried: false,
            override_reason: None,
        }
    }

    /// What is wrong with a field now, if anything.
    pub fn problem(&self, config: &Config, field: Field) -> Option<String> {
        match field {
            Field::Version if self.version.trim().is_empty() => {
                Some("a version is required (the image tag, e.g. 1.4.2)".into())
            }
            Field::Version => Version::parse(self.version.trim()).err(),
            Field::Strategy if config.strategies.contains_key(self.strategy.trim()) => None,
            Field::Strategy => Some(format!(
                "unknown strategy `{}`; ←/→ choose: {}",
                self.strategy.trim(),
                strategies(config).join(", ")
            )),
        }
    }

    pub fn valid(&self, config: &Config) -> bool {
        [Field::Version, Field::Strategy]
            .iter()
            .all(|f| self.problem(config, *f).is_none())
    }

    pub fn on_key(&mut self, key: KeyEvent, config: &Config, operator: &str) -> Outcome {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Esc => return Outcome::Cancel,
            KeyCode::Char('c') if ctrl => return Outcome::Cancel,
            KeyCode::Enter => {
                if !self.valid(config) {
                    self.tried = true;
                    // Put the cursor where the first problem is.
                    if self.problem(config, Field::Version).is_some() {
                        self.focus = Field::Version;
                    } else {
                        self.focus = Field::Strategy;
                    }
                    return Outcome::Stay;
                }
                let Ok(version) = Version::parse(self.version.trim()) else {
                    return Outcome::Stay;
                };
                let strategy = self.strategy.trim().to_string();
                let default = config.services.get(&self.service).map(|s| &s.strategy);
                return Outcome::Send(Command::Deploy {
                    service: self.service.clone(),
                    version,
                    strategy: (Some(&strategy) != default).then_some(strategy),
                    operator: operator.to_string(),
                    override_reason: self.override_reason.clone(),
                });
            }
            KeyCode::Tab | KeyCode::BackTab | KeyCode::Down | KeyCode::Up => {
                self.focus = match self.focus {
                    Field::Version => Field::Strategy,
                    Field::Strategy => Field::Version,
                };
            }
            KeyCode::Left | KeyCode::Right if self.focus == Field::Strategy => {
                let all = strategies(config);
                if !all.is_empty() {
                    let at = all.iter().position(|s| *s == self.strategy.trim());
                    let next = match (at, key.code) {
                        (None, _) => 0,
                        (Some(i), KeyCode::Right) => (i + 1) % all.len(),
                        (Some(i), _) => (i + all.len() - 1) % all.len(),
                    };
                    self.strategy = all[next].to_string();
                }
            }
            KeyCode::Backspace => {
                self.field_mut().pop();
            }
            KeyCode::Char('u') if ctrl => self.field_mut().clear(),
            KeyCode::Char(c) if !ctrl && !c.is_control() => {
                let f = self.field_mut();
                if f.len() < MAX_INPUT {
                    f.push(c);
                }
            }
            _ => {}
        }
        Outcome::Stay
    }

    fn field_mut(&mut self) -> &mut String {
        match self.focus {
            Field::Version => &mut self.version,
            Field::Strategy => &mut self.strategy,
        }
    }
}

fn strategies(config: &Config) -> Vec<&str> {
    config.strategies.keys().map(String::as_str).collect()
}

/// `30s`, `1m`, `1m30s`, `500ms`: as durations are written in the configuration.
fn secs(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    if !ms.is_multiple_of(1000) {
        return format!("{ms}ms");
    }
    let s = d.as_secs();
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, 0, 0) => format!("{h}h"),
        (h, m, s) => format!("{h}h{m}m{s}s"),
    }
}

/// What a deployment with this form's values will do, one line each, and warnings (a line
/// starting with `!`).
pub fn plan(config: &Config, snapshot: &Snapshot, form: &DeployForm) -> Vec<String> {
    let mut out = Vec::new();
    let Some(svc) = config.services.get(&form.service) else {
        return vec![format!("! unknown service `{}`", form.service)];
    };
    let env = config.service_environment(svc);
    let version = form.version.trim();
    let version = if version.is_empty() {
        "VERSION"
    } else {
        version
    };
    if let Some(s) = config.strategies.get(form.strategy.trim()) {
        out.push(match &s.kind {
            StrategyKind::Canary {
                steps,
                bake,
                finally,
            } => format!(
                "canary {version}: {} % of traffic, bake {} at each step, then {}",
                steps
                    .iter()
                    .map(|s| s.canary_percent().to_string())
                    .collect::<Vec<_>>()
                    .join(" → "),
                secs(*bake),
                match finally {
                    Finally::Promote => "promote to stable",
                    Finally::Pause => "pause for your decision (p promotes)",
                }
            ),
            StrategyKind::CanaryManual { initial } => format!(
                "canary {version} at {} % of traffic, then you steer it with +/- and promote with p",
                initial.canary_percent()
            ),
            StrategyKind::BlueGreen { verify, keep } => format!(
                "blue-green: {version} beside stable, verified {}, then all traffic switches; the old stable is kept {} for an instant rollback",
                secs(*verify),
                secs(*keep)
            ),
            StrategyKind::Rolling { batch, bake } => format!(
                "rolling: {batch} host(s) at a time, bake {} between batches",
                secs(*bake)
            ),
        });
    }
    let stable = snapshot
        .services
        .get(&form.service)
        .map(|s| {
            let mut v: Vec<&str> = s
                .hosts
                .values()
                .filter_map(|h| h.stable.as_ref())
                .filter_map(|st| st.version.as_deref())
                .collect();
            v.sort();
            v.dedup();
            v.join(",")
        })
        .filter(|v| !v.is_empty());
    out.push(format!(
        "hosts: {} ({} host(s), stable now {})",
        svc.hosts.join(", "),
        svc.hosts.len(),
        stable.as_deref().unwrap_or("unknown")
    ));
    let a = &config.analysis;
    out.push(format!(
        "judged every {} over {}: fail above {:.1} % errors or P99 over {} ms; {} failure(s) in a row roll back",
        secs(a.interval),
        secs(a.window),
        a.error_rate_max * 100.0,
        a.p99_max.as_millis(),
        a.failure_limit,
    ));
    out.push(format!(
        "fewer than {} requests is inconclusive: {}",
        a.min_requests,
        match a.on_inconclusive {
            OnInconclusive::Pause => "the rollout pauses",
            OnInconclusive::Rollback => "the rollout rolls back",
        }
    ));
    if svc.nginx.access_log.is_none() && a.provider == crate::config::Provider::NginxLog {
        out.push("! no nginx.access_log for this service: nothing will be judged".into());
    }
    if let Some(e) = env.filter(|e| e.approval == crate::config::Approval::Required) {
        out.push(format!(
            "! {} requires approval{}",
            e.name,
            if e.approvers.is_empty() {
                String::new()
            } else {
                format!(" by {}", e.approvers.join(" or "))
            }
        ));
    }
    if let Some(d) = snapshot
        .services
        .get(&form.service)
        .and_then(|s| s.deployment.as_ref())
        .filter(|d| !d.state.is_terminal())
    {
        out.push(format!(
            "! deployment #{} ({} {}) is still {}: finish or roll it back first",
            d.id, d.version, d.strategy, d.state
        ));
    }
    if let Some(reason) = &form.override_reason {
        // First, so that it shows even on a small terminal.
        out.insert(
            0,
            format!("! OVERRIDING any policy refusal, reason (audited): {reason}"),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::tests::test_config;

    fn type_in(f: &mut DeployForm, c: &Config, s: &str) {
        for ch in s.chars() {
            f.on_key(KeyEvent::from(KeyCode::Char(ch)), c, "alice");
        }
    }

    fn press(f: &mut DeployForm, c: &Config, code: KeyCode) -> Outcome {
        f.on_key(KeyEvent::from(code), c, "alice")
    }

    #[test]
    fn empty_version_and_unknown_strategy_are_never_sent() {
        let c = test_config();
        let mut f = DeployForm::new(&c, "demo");
        assert_eq!(press(&mut f, &c, KeyCode::Enter), Outcome::Stay);
        assert!(f.tried);
        assert!(f.problem(&c, Field::Version).unwrap().contains("required"));
        type_in(&mut f, &c, "1.2.0");
        press(&mut f, &c, KeyCode::Tab);
        assert_eq!(f.focus, Field::Strategy);
        f.on_key(
            KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL),
            &c,
            "alice",
        );
        type_in(&mut f, &c, "nope");
        assert_eq!(press(&mut f, &c, KeyCode::Enter), Outcome::Stay);
        assert!(f
            .problem(&c, Field::Strategy)
            .unwrap()
            .starts_with("unknown strategy `nope`; ←/→ choose: canary-auto"));
        // A bad version too: the cursor goes to the first problem.
        press(&mut f, &c, KeyCode::BackTab);
        type_in(&mut f, &c, ";rm");
        press(&mut f, &c, KeyCode::Tab);
        assert_eq!(press(&mut f, &c, KeyCode::Enter), Outcome::Stay);
        assert_eq!(f.focus, Field::Version);
        assert!(f.problem(&c, Field::Version).is_some());
    }

    #[test]
    fn enter_sends_the_deploy_and_esc_cancels() {
        let mut c = test_config();
        c.strategies.insert(
            "manual".into(),
            crate::config::Strategy {
                name: "manual".into(),
                kind: StrategyKind::CanaryManual {
                    initial: crate::domain::Split::TEN,
                },
            },
        );
        let mut f = DeployForm::new(&c, "demo");
        assert_eq!(f.strategy, "canary-auto");
        type_in(&mut f, &c, "1.2.0");
        match press(&mut f, &c, KeyCode::Enter) {
            Outcome::Send(Command::Deploy {
                service,
                version,
                strategy,
                operator,
                override_reason: None,
            }) => {
                assert_eq!(
                    (service.as_str(), version.to_string()),
                    ("demo", "1.2.0".into())
                );
                assert_eq!((strategy, operator.as_str()), (None, "alice"));
            }
            o => panic!("{o:?}"),
        }
        press(&mut f, &c, KeyCode::Tab);
        press(&mut f, &c, KeyCode::Right);
        assert_eq!(f.strategy, "manual");
        match press(&mut f, &c, KeyCode::Enter) {
            Outcome::Send(Command::Deploy { strategy, .. }) => {
                assert_eq!(strategy.as_deref(), Some("manual"))
            }
            o => panic!("{o:?}"),
        }
        press(&mut f, &c, KeyCode::Right);
        assert_eq!(f.strategy, "canary-auto");
        press(&mut f, &c, KeyCode::Left);
        assert_eq!(f.strategy, "manual");
        assert_eq!(press(&mut f, &c, KeyCode::Esc), Outcome::Cancel);
    }

    #[test]
    fn the_plan_says_steps_bake_hosts_and_thresholds() {
        let c = test_config();
        let mut f = DeployForm::new(&c, "demo");
        f.version = "1.2.0".into();
        let p = plan(&c, &Snapshot::default(), &f).join("\n");
        assert!(
            p.contains(
                "canary 1.2.0: 10 → 40 → 70 % of traffic, bake 30s at each step, then pause"
            ),
            "{p}"
        );
        assert!(
            p.contains("hosts: web-1, web-2, web-3 (3 host(s), stable now unknown)"),
            "{p}"
        );
        assert!(
            p.contains("fail above 2.0 % errors or P99 over 1000 ms"),
            "{p}"
        );
        assert!(
            p.contains("fewer than 50 requests is inconclusive: the rollout pauses"),
            "{p}"
        );
    }
}
