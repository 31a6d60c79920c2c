//! Key names as written in a keymap file (`j`, `down`, `ctrl-c`, `enter`, `space`, `!`,
//! `shift-tab`, `f5`) and as shown in help and the key bar.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// One key press: a key and the modifiers that matter (ctrl, alt; shift only for keys that
/// have no shifted character, such as `shift-tab`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

const NAMED: &[(&str, KeyCode)] = &[
    ("up", KeyCode::Up),
    ("down", KeyCode::Down),
    ("left", KeyCode::Left),
    ("right", KeyCode::Right),
    ("enter", KeyCode::Enter),
    ("return", KeyCode::Enter),
    ("esc", KeyCode::Esc),
    ("escape", KeyCode::Esc),
    ("tab", KeyCode::Tab),
    ("backtab", KeyCode::BackTab),
    ("space", KeyCode::Char(' ')),
    ("backspace", KeyCode::Backspace),
    ("delete", KeyCode::Delete),
    ("del", KeyCode::Delete),
    ("insert", KeyCode::Insert),
    ("home", KeyCode::Home),
    ("end", KeyCode::End),
    ("pageup", KeyCode::PageUp),
    ("pagedown", KeyCode::PageDown),
];

impl Key {
    pub const fn plain(code: KeyCode) -> Key {
        Key {
            code,
            mods: KeyModifiers::NONE,
        }
    }

    pub const fn ch(c: char) -> Key {
        Key::plain(KeyCode::Char(c))
    }

    pub const fn ctrl(c: char) -> Key {
        Key {
            code: KeyCode::Char(c),
            mods: KeyModifiers::CONTROL,
        }
    }

    /// Parse a key name; the error says what is accepted.
    pub fn parse(name: &str) -> Result<Key, String> {
        let mut mods = KeyModifiers::NONE;
        let mut rest = name;
        // `-` alone is the minus key; `ctrl--` is ctrl and minus.
        while rest.chars().count() > 1 {
            let lower = rest.to_ascii_lowercase();
            let (m, len) = if lower.starts_with("ctrl-") {
                (KeyModifiers::CONTROL, 5)
            } else if lower.starts_with("alt-") {
                (KeyModifiers::ALT, 4)
            } else if lower.starts_with("shift-") {
                (KeyModifiers::SHIFT, 6)
            } else {
                break;
            };
            if mods.contains(m) {
                return Err(format!("`{name}` repeats a modifier"));
            }
            mods |= m;
            rest = &rest[len..];
        }
        let mut chars = rest.chars();
        let code = match (chars.next(), chars.next()) {
            (None, _) => return Err(format!("`{name}` names no key after its modifiers")),
            (Some(c), None) if c.is_control() => {
                return Err(format!(
                    "`{}` is a control character, not a key name",
                    c.escape_default()
                ))
            }
            (Some(c), None) => {
                if mods.contains(KeyModifiers::SHIFT) {
                    return Err(format!(
                        "`{name}`: write the shifted character itself (e.g. `G`, `!`), not shift-"
                    ));
                }
                // Terminals send ctrl-letter without case; match it as lowercase.
                let c = if mods.contains(KeyModifiers::CONTROL) {
                    c.to_ascii_lowercase()
                } else {
                    c
                };
                KeyCode::Char(c)
            }
            _ => {
                let lower = rest.to_ascii_lowercase();
                if let Some((_, code)) = NAMED.iter().find(|(n, _)| *n == lower) {
                    *code
                } else if let Some(n) = lower
                    .strip_prefix('f')
                    .and_then(|n| n.parse::<u8>().ok())
                    .filter(|n| (1..=12).contains(n))
                {
                    KeyCode::F(n)
                } else {
                    return Err(format!(
                        "`{name}` is not a key; use one character (`j`, `!`, `G`), a name ({}, f1..f12), optionally after ctrl-, alt- or shift-",
                        NAMED.iter().map(|(n, _)| *n).filter(|n| !matches!(*n, "return" | "escape" | "del" | "backtab")).collect::<Vec<_>>().join(", ")
                    ));
                }
            }
        };
        // shift-tab is what terminals send as BackTab.
        if code == KeyCode::Tab && mods.contains(KeyModifiers::SHIFT) {
            return Ok(Key {
                code: KeyCode::BackTab,
                mods: mods - KeyModifiers::SHIFT,
            });
        }
        Ok(Key { code, mods })
    }

    /// Whether a terminal key press is this key. Shift is part of a character (`!`, `G`), so
    /// it only counts for named keys.
    pub fn matches(&self, e: &KeyEvent) -> bool {
        let relevant = |m: KeyModifiers, code: KeyCode| match code {
            KeyCode::Char(_) | KeyCode::BackTab => m & (KeyModifiers::CONTROL | KeyModifiers::ALT),
            _ => m & (KeyModifiers::CONTROL | KeyModifiers::ALT | KeyModifiers::SHIFT),
        };
        let code = match (e.code, e.modifiers.contains(KeyModifiers::CONTROL)) {
            (KeyCode::Char(c), true) => KeyCode::Char(c.to_ascii_lowercase()),
            (c, _) => c,
        };
        code == self.code && relevant(e.modifiers, code) == relevant(self.mods, self.code)
    }

    /// How help and the key bar show the key.
    pub fn label(&self) -> String {
        let mut s = String::new();
        if self.mods.contains(KeyModifiers::CONTROL) {
            s.push_str("ctrl-");
        }
        if self.mods.contains(KeyModifiers::ALT) {
            s.push_str("alt-");
        }
        if self.mods.contains(KeyModifiers::SHIFT) {
            s.push_str("shift-");
        }
        match self.code {
            KeyCode::Char(' ') => s.push_str("space"),
            KeyCode::Char(c) => s.push(c),
            KeyCode::Up => s.push('↑'),
            KeyCode::Down => s.push('↓'),
            KeyCode::Left => s.push('←'),
            KeyCode::Right => s.push('→'),
            KeyCode::BackTab => s.push_str("shift-tab"),
            KeyCode::F(n) => s.push_str(&format!("f{n}")),
            other => {
                let name = NAMED
                    .iter()
                    .find(|(_, c)| *c == other)
                    .map_or("?", |(n, _)| n);
                s.push_str(name);
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse() {
        assert_eq!(Key::parse("j"), Ok(Key::ch('j')));
        assert_eq!(Key::parse("!"), Ok(Key::ch('!')));
        assert_eq!(Key::parse("-"), Ok(Key::ch('-')));
        assert_eq!(Key::parse("G"), Ok(Key::ch('G')));
        assert_eq!(Key::parse("space"), Ok(Key::ch(' ')));
        assert_eq!(Key::parse("Down"), Ok(Key::plain(KeyCode::Down)));
        assert_eq!(Key::parse("ctrl-c"), Ok(Key::ctrl('c')));
        assert_eq!(Key::parse("CTRL-C"), Ok(Key::ctrl('c')));
        assert_eq!(
            Key::parse("ctrl--"),
            Ok(Key {
                code: KeyCode::Char('-'),
                mods: KeyModifiers::CONTROL
            })
        );
        assert_eq!(Key::parse("shift-tab"), Ok(Key::plain(KeyCode::BackTab)));
        assert_eq!(Key::parse("f5"), Ok(Key::plain(KeyCode::F(5))));
        for bad in ["", "ctrl-", "shift-g", "ctrl-ctrl-c", "f13", "downn", "\t"] {
            assert!(Key::parse(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn labels_read_back_as_the_same_key() {
        for name in [
            "j",
            "!",
            "space",
            "enter",
            "ctrl-c",
            "alt-x",
            "shift-tab",
            "f12",
            "pagedown",
        ] {
            let k = Key::parse(name).unwrap();
            let label = k.label();
            if !label.contains(['↑', '↓', '←', '→']) {
                assert_eq!(Key::parse(&label), Ok(k), "{name} -> {label}");
            }
        }
    }

    #[test]
    fn shifted_characters_match_whatever_the_terminal_says_about_shift() {
        let bang = Key::ch('!');
        assert!(bang.matches(&KeyEvent::new(KeyCode::Char('!'), KeyModifiers::SHIFT)));
        assert!(bang.matches(&KeyEvent::from(KeyCode::Char('!'))));
        assert!(!bang.matches(&KeyEvent::new(KeyCode::Char('!'), KeyModifiers::CONTROL)));
        let ctrl_c = Key::ctrl('c');
        assert!(ctrl_c.matches(&KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)));
        assert!(ctrl_c.matches(&KeyEvent::new(
            KeyCode::Char('C'),
            KeyModifiers::CONTROL | KeyModifiers::SHIFT
        )));
        assert!(!ctrl_c.matches(&KeyEvent::from(KeyCode::Char('c'))));
        let back = Key::parse("shift-tab").unwrap();
        assert!(back.matches(&KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT)));
        assert!(
            !Key::plain(KeyCode::Down).matches(&KeyEvent::new(KeyCode::Down, KeyModifiers::SHIFT))
        );
    }
}
