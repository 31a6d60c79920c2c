//! Text from outside (container logs, remote stderr, access-log fields) made safe to show or
//! store: terminal escape sequences and other control characters are removed, so nothing
//! read from a host can move the console's cursor, retitle a terminal, hide text in a record
//! or reorder it (bidirectional overrides). The one place this is done; callers choose whether
//! newlines survive.

/// `s` without control characters: escape sequences (CSI, OSC, and two-byte `ESC x`) are
/// removed whole, a tab becomes a space, other C0/C1 controls, DEL and bidirectional
/// formatting characters are dropped. Newlines are kept.
pub fn text(s: &str) -> String {
    clean(s, true)
}

/// As [`text`], and newlines (with carriage returns) become single spaces: one line.
pub fn line(s: &str) -> String {
    clean(s, false)
}

fn unwanted(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn clean(s: &str, keep_newlines: bool) -> String {
    if !s.chars().any(unwanted) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' if keep_newlines => out.push('\n'),
            '\n' | '\r' | '\t' => {
                if !(out.ends_with(' ') || keep_newlines && c == '\r') {
                    out.push(' ');
                }
            }
            '\u{1b}' => match chars.next() {
                // CSI: parameters and intermediates, then one final byte in @..~.
                Some('[') => {
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
                // OSC, DCS, SOS, PM, APC: up to BEL or ST (ESC \).
                Some(']' | 'P' | 'X' | '^' | '_') => {
                    while let Some(c) = chars.next() {
                        if c == '\u{7}' {
                            break;
                        }
                        if c == '\u{1b}' && chars.peek() == Some(&'\\') {
                            chars.next();
                            break;
                        }
                    }
                }
                _ => {}
            },
            c if unwanted(c) => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_and_controls_are_removed() {
        assert_eq!(text("plain text, ünïcode"), "plain text, ünïcode");
        assert_eq!(text("\u{1b}[31mred\u{1b}[0m"), "red");
        assert_eq!(text("\u{1b}]0;owned\u{7}title"), "title");
        assert_eq!(text("\u{1b}]8;;http://x\u{1b}\\link"), "link");
        assert_eq!(text("a\u{8}\u{8}b\u{7f}c\u{9b}2Jd"), "abc2Jd");
        assert_eq!(text("bell\u{7} and \u{202e}reversed"), "bell and reversed");
        assert_eq!(text("one\r\ntwo\tthree"), "one\ntwo three");
    }

    #[test]
    fn line_keeps_one_line() {
        assert_eq!(line("one\r\ntwo\n\nthree"), "one two three");
        assert_eq!(line("a\u{1b}[2Kb"), "ab");
    }
}
