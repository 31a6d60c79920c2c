//! Every key binding in one table: the dispatcher, the help overlay and the key bar all read
//! it, so help cannot drift from what the keys really do.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    Help,
    Quit,
}

pub struct Binding {
    pub keys: &'static [KeyCode],
    pub label: &'static str,
    /// One or two words for the key bar.
    pub short: &'static str,
    pub help: &'static str,
    pub act: Act,
    /// Shown in the bottom key bar (the rest only in help).
    pub in_bar: bool,
}

pub const BINDINGS: &[Binding] = &[
    Binding {
        keys: &[KeyCode::Char('j'), KeyCode::Down],
        label: "j/↓",
        short: "down",
        help: "select next service",
        act: Act::Down,
        in_bar: false,
    },
    Binding {
        keys: &[KeyCode::Char('k'), KeyCode::Up],
        label: "k/↑",
        short: "up",
        help: "select previous service",
        act: Act::Up,
        in_bar: false,
    },
    Binding {
        keys: &[KeyCode::Char('d')],
        label: "d",
        short: "deploy",
        help: "deploy a version of the selected service",
        act: Act::Deploy,
        in_bar: true,
    },
    Binding {
        keys: &[KeyCode::Char('+'), KeyCode::Char('=')],
        label: "+",
        short: "weight±",
        help: "canary weight +10 %",
        act: Act::WeightUp,
        in_bar: true,
    },
    Binding {
        keys: &[KeyCode::Char('-')],
        label: "-",
        short: "weight-",
        help: "canary weight -10 %",
        act: Act::WeightDown,
        in_bar: false,
    },
    Binding {
        keys: &[KeyCode::Char(' ')],
        label: "spc",
        short: "pause",
        help: "pause / resume the rollout",
        act: Act::PauseResume,
        in_bar: true,
    },
    Binding {
        keys: &[KeyCode::Char('p')],
        label: "p",
        short: "promote",
        help: "promote the canary (asks to confirm)",
        act: Act::Promote,
        in_bar: true,
    },
    Binding {
        keys: &[KeyCode::Char('r')],
        label: "r",
        short: "rollback",
        help: "roll the selected service back to stable now",
        act: Act::Rollback,
        in_bar: true,
    },
    Binding {
        keys: &[KeyCode::Char('!')],
        label: "!",
        short: "ROLLBACK ALL",
        help: "EMERGENCY: roll back every service now, no question asked",
        act: Act::RollbackAll,
        in_bar: true,
    },
    Binding {
        keys: &[KeyCode::Char('g')],
        label: "g",
        short: "re-read",
        help: "re-read every host now",
        act: Act::Refresh,
        in_bar: false,
    },
    Binding {
        keys: &[KeyCode::Char(':')],
        label: ":",
        short: "command",
        help:
            "command: deploy SVC VERSION [STRATEGY] | rollback SVC | promote SVC | weight SVC N | q",
        act: Act::Command,
        in_bar: false,
    },
    Binding {
        keys: &[KeyCode::Char('/')],
        label: "/",
        short: "filter",
        help: "filter services by name (enter an empty filter to show all)",
        act: Act::Filter,
        in_bar: false,
    },
    Binding {
        keys: &[KeyCode::Tab],
        label: "tab",
        short: "pane",
        help: "switch j/k between the services and the events pane",
        act: Act::NextPane,
        in_bar: false,
    },
    Binding {
        keys: &[KeyCode::Esc],
        label: "esc",
        short: "back",
        help: "clear the filter, back to the services pane",
        act: Act::Back,
        in_bar: false,
    },
    Binding {
        keys: &[KeyCode::Char('?')],
        label: "?",
        short: "help",
        help: "this help",
        act: Act::Help,
        in_bar: true,
    },
    Binding {
        keys: &[KeyCode::Char('q')],
        label: "q",
        short: "quit",
        help: "quit (asks what to do with rollouts in flight)",
        act: Act::Quit,
        in_bar: true,
    },
];

/// The action bound to a key press, if any. ctrl-c always quits.
pub fn lookup(key: KeyEvent) -> Option<Act> {
    if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
        return Some(Act::Quit);
    }
    BINDINGS
        .iter()
        .find(|b| b.keys.contains(&key.code))
        .map(|b| b.act)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_key_is_bound_twice() {
        let mut seen = Vec::new();
        for b in BINDINGS {
            for k in b.keys {
                assert!(!seen.contains(k), "{k:?} bound twice");
                seen.push(*k);
            }
        }
    }

    #[test]
    fn every_binding_is_reachable_by_its_keys() {
        for b in BINDINGS {
            for k in b.keys {
                assert_eq!(lookup(KeyEvent::from(*k)), Some(b.act));
            }
        }
    }
}
