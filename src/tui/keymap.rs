//! Every key binding in one table: the dispatcher, the help overlay and the key bar all read
//! it, so help cannot drift from what the keys really do. The defaults below can be changed
//! per action from a YAML file (see `file`).

pub mod file;
pub mod keys;

use ratatui::crossterm::event::{KeyCode, KeyEvent};

pub use keys::Key;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Act {
    Down,
    Up,
    Deploy,
    WeightUp,
    WeightDown,
    PauseResume,
    Promote,
    Rollback,
    RollbackAll,
    Refresh,
    Command,
    Filter,
    NextPane,
    Back,
    ChartWindow,
    Approve,
    Reject,
    Details,
    TakeOver,
    Help,
    Quit,
}

/// What an action is called in a keymap file, how help and the key bar describe it, and its
/// default keys.
pub struct ActInfo {
    pub act: Act,
    pub name: &'static str,
    /// One or two words for the key bar.
    pub short: &'static str,
    pub help: &'static str,
    /// Shown in the bottom key bar (the rest only in help).
    pub in_bar: bool,
    pub defaults: &'static [Key],
    /// An on-call engineer must always be able to do this: it cannot be left without a key.
    pub required: bool,
}

const fn info(
    act: Act,
    name: &'static str,
    short: &'static str,
    help: &'static str,
    in_bar: bool,
    defaults: &'static [Key],
) -> ActInfo {
    ActInfo {
        act,
        name,
        short,
        help,
        in_bar,
        defaults,
        required: matches!(act, Act::RollbackAll | Act::Help | Act::Quit),
    }
}

/// Every action, in the order help lists them.
pub const ACTIONS: &[ActInfo] = &[
    info(Act::Down, "down", "down", "select next service", false, &[Key::ch('j'), Key::plain(KeyCode::Down)]),
    info(Act::Up, "up", "up", "select previous service", false, &[Key::ch('k'), Key::plain(KeyCode::Up)]),
    info(Act::Deploy, "deploy", "deploy", "deploy a version of the selected service (a form that shows the plan)", true, &[Key::ch('d')]),
    info(Act::WeightUp, "weight-up", "weight±", "canary weight +10 %", true, &[Key::ch('+'), Key::ch('=')]),
    info(Act::WeightDown, "weight-down", "weight-", "canary weight -10 %", false, &[Key::ch('-')]),
    info(Act::PauseResume, "pause-resume", "pause", "pause / resume the rollout", true, &[Key::ch(' ')]),
    info(Act::Promote, "promote", "promote", "promote the canary (asks to confirm)", true, &[Key::ch('p')]),
    info(Act::Rollback, "rollback", "rollback", "roll the selected service back to stable now", true, &[Key::ch('r')]),
    info(Act::RollbackAll, "rollback-all", "ROLLBACK ALL", "EMERGENCY: roll back every service now, no question asked", true, &[Key::ch('!')]),
    info(Act::Refresh, "refresh", "re-read", "re-read every host now", false, &[Key::ch('g')]),
    info(Act::Command, "command", "command", "command: deploy [SVC [VERSION [STRATEGY]]] | rollback|promote|take-over SVC | weight SVC N | theme T | q", false, &[Key::ch(':')]),
    info(Act::Filter, "filter", "filter", "filter services by name (enter an empty filter to show all)", false, &[Key::ch('/')]),
    info(Act::NextPane, "next-pane", "pane", "switch j/k between the services and the events pane", false, &[Key::plain(KeyCode::Tab)]),
    info(Act::Back, "back", "back", "clear the filter, back to the services pane", false, &[Key::plain(KeyCode::Esc)]),
    info(Act::ChartWindow, "chart-window", "window", "charts: cycle the window 5 min / 1 h / 24 h", false, &[Key::ch('w')]),
    info(Act::Approve, "approve", "approve", "approve the selected pending approval (production: type the service name)", false, &[Key::ch('a')]),
    info(Act::Reject, "reject", "reject", "reject the selected pending approval (asks for a reason)", false, &[Key::ch('x')]),
    info(Act::Details, "details", "details", "details of the selected service: its latest deployment's journal and its lease", false, &[Key::plain(KeyCode::Enter)]),
    info(Act::TakeOver, "take-over", "take over", "take over a canary nobody watches (UNWATCHED): judge it from here, roll it back on a breach", false, &[Key::ch('t')]),
    info(Act::Help, "help", "help", "this help", true, &[Key::ch('?')]),
    info(Act::Quit, "quit", "quit", "quit (asks what to do with rollouts in flight)", true, &[Key::ch('q'), Key::ctrl('c')]),
];

impl Act {
    pub fn info(self) -> &'static ActInfo {
        // Every Act has a row (checked by a test); fall back to the last row, never panic.
        ACTIONS
            .iter()
            .find(|i| i.act == self)
            .unwrap_or(&ACTIONS[ACTIONS.len() - 1])
    }

    pub fn by_name(name: &str) -> Option<Act> {
        ACTIONS.iter().find(|i| i.name == name).map(|i| i.act)
    }
}

/// ctrl-c always quits, whatever the file says: the way out of a terminal program.
pub const CTRL_C: Key = Key::ctrl('c');

/// One action and the keys that reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub act: Act,
    pub keys: Vec<Key>,
}

impl Binding {
    /// `j/↓`: every key, for help.
    pub fn label(&self) -> String {
        self.keys
            .iter()
            .map(Key::label)
            .collect::<Vec<_>>()
            .join("/")
    }

    pub fn info(&self) -> &'static ActInfo {
        self.act.info()
    }
}

/// The effective bindings: the defaults with a file's changes applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keymap {
    pub bindings: Vec<Binding>,
}

impl Default for Keymap {
    fn default() -> Keymap {
        Keymap {
            bindings: ACTIONS
                .iter()
                .map(|i| Binding {
                    act: i.act,
                    keys: i.defaults.to_vec(),
                })
                .collect(),
        }
    }
}

impl Keymap {
    /// The action bound to a key press, if any.
    pub fn lookup(&self, key: &KeyEvent) -> Option<Act> {
        if CTRL_C.matches(key) {
            return Some(Act::Quit);
        }
        self.bindings
            .iter()
            .find(|b| b.keys.iter().any(|k| k.matches(key)))
            .map(|b| b.act)
    }

    pub fn binding(&self, act: Act) -> Option<&Binding> {
        self.bindings.iter().find(|b| b.act == act)
    }

    /// The bindings with at least one key (an action can be unbound in the file).
    pub fn bound(&self) -> impl Iterator<Item = &Binding> {
        self.bindings.iter().filter(|b| !b.keys.is_empty())
    }

    /// The first key of an action, for messages such as "press w".
    pub fn key_for(&self, act: Act) -> Option<String> {
        self.binding(act)
            .and_then(|b| b.keys.first())
            .map(Key::label)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_has_one_row_and_a_unique_name() {
        let all = [
            Act::Down,
            Act::Up,
            Act::Deploy,
            Act::WeightUp,
            Act::WeightDown,
            Act::PauseResume,
            Act::Promote,
            Act::Rollback,
            Act::RollbackAll,
            Act::Refresh,
            Act::Command,
            Act::Filter,
            Act::NextPane,
            Act::Back,
            Act::ChartWindow,
            Act::Approve,
            Act::Reject,
            Act::Details,
            Act::TakeOver,
            Act::Help,
            Act::Quit,
        ];
        assert_eq!(all.len(), ACTIONS.len());
        for a in all {
            assert_eq!(ACTIONS.iter().filter(|i| i.act == a).count(), 1, "{a:?}");
            assert_eq!(Act::by_name(a.info().name), Some(a));
        }
    }

    #[test]
    fn no_default_key_is_bound_twice() {
        let mut seen = Vec::new();
        for b in &Keymap::default().bindings {
            for k in &b.keys {
                assert!(!seen.contains(k), "{k:?} bound twice");
                seen.push(*k);
            }
        }
    }

    #[test]
    fn every_default_binding_is_reachable_by_its_keys() {
        let map = Keymap::default();
        for b in &map.bindings {
            for k in &b.keys {
                assert_eq!(map.lookup(&KeyEvent::new(k.code, k.mods)), Some(b.act));
            }
        }
    }
}
