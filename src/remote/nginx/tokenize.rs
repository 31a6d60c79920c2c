//! A tokenizer for nginx configuration syntax that keeps byte spans, so an editor can change
//! single tokens and leave every other byte alone.
//!
//! It follows nginx's own reader (`ngx_conf_read_token` in `src/core/ngx_conf_file.c`), so a
//! file means to sluice what it means to nginx:
//! - whitespace is space, tab, CR and LF (CRLF files need nothing special);
//! - a word ends at whitespace, `;` or `{` — *not* at `}`: `a}b` is one word, which is also
//!   what makes `${var}` work; after a `$`, a `{` stays in the word;
//! - `#` starts a comment only where a token could start (`a#b` is a word);
//! - `"…"` and `'…'` are quoted (they may hold `{ } ; #` and whitespace); a backslash escapes
//!   the next byte, inside quotes and out; a closing quote must be followed by whitespace, `;`,
//!   `{` or `)`.
//!
//! Structure (a `;` or `{` with no words before it, a `}` in the middle of a directive, blocks
//! that never close) is checked by the caller, which tracks directives.

use std::ops::Range;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Word,
    Semi,
    Open,
    Close,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub kind: Kind,
    /// Byte range in the text; for a quoted word it includes the quotes.
    pub span: Range<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenError {
    pub offset: usize,
    pub message: String,
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

pub fn tokenize(text: &str) -> Result<Vec<Token>, TokenError> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let punct = |kind| Token {
            kind,
            span: i..i + 1,
        };
        match c {
            c if is_space(c) => i += 1,
            b'#' => {
                while b.get(i).is_some_and(|c| *c != b'\n') {
                    i += 1;
                }
            }
            b';' => {
                out.push(punct(Kind::Semi));
                i += 1;
            }
            b'{' => {
                out.push(punct(Kind::Open));
                i += 1;
            }
            b'}' => {
                out.push(punct(Kind::Close));
                i += 1;
            }
            b'"' | b'\'' => {
                let end = quoted_end(b, i)?;
                out.push(Token {
                    kind: Kind::Word,
                    span: i..end,
                });
                i = end;
            }
            _ => {
                let end = word_end(b, i);
                out.push(Token {
                    kind: Kind::Word,
                    span: i..end,
                });
                i = end;
            }
        }
    }
    Ok(out)
}

/// End (exclusive) of the quoted string opening at `start`.
fn quoted_end(b: &[u8], start: usize) -> Result<usize, TokenError> {
    let q = b[start];
    let mut i = start + 1;
    loop {
        match b.get(i) {
            None => {
                return Err(TokenError {
                    offset: start,
                    message: "unterminated quoted string (the closing quote is missing)".into(),
                })
            }
            // Skip the escaped byte; a multi-byte character's other bytes are never special.
            Some(b'\\') => i += 2,
            Some(c) if *c == q => break,
            Some(_) => i += 1,
        }
    }
    let end = i + 1;
    match b.get(end) {
        None | Some(b';' | b'{' | b')') => Ok(end),
        Some(c) if is_space(*c) => Ok(end),
        Some(_) => {
            let ch = std::str::from_utf8(&b[end..])
                .ok()
                .and_then(|s| s.chars().next())
                .unwrap_or('?');
            Err(TokenError {
                offset: end,
                message: format!("unexpected `{ch}` right after a quoted string"),
            })
        }
    }
}

/// End (exclusive) of the unquoted word starting at `start`.
fn word_end(b: &[u8], start: usize) -> usize {
    let mut i = start;
    let mut variable = false;
    while let Some(&c) = b.get(i) {
        if c == b'{' && variable {
            i += 1;
            continue;
        }
        variable = false;
        match c {
            b'\\' => i += 2,
            b'$' => {
                variable = true;
                i += 1;
            }
            b';' | b'{' => break,
            c if is_space(c) => break,
            _ => i += 1,
        }
    }
    // An escape as the very last byte would point one past the end.
    i.min(b.len())
}

/// A word's value: quotes removed and escapes resolved (as nginx does for `\"`, `\'`, `\\`,
/// `\t`, `\r`, `\n`; other escapes keep their backslash).
pub fn unquote(raw: &str) -> String {
    let inner = match raw.as_bytes() {
        [q @ (b'"' | b'\''), .., last] if raw.len() >= 2 && last == q => &raw[1..raw.len() - 1],
        _ => raw,
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(n @ ('"' | '\'' | '\\')) => out.push(n),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some(n) => {
                out.push('\\');
                out.push(n);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.bytes().filter(|c| *c == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<&str> {
        tokenize(text)
            .unwrap()
            .into_iter()
            .map(|t| &text[t.span])
            .collect()
    }

    #[test]
    fn splits_words_and_punctuation() {
        assert_eq!(
            words("upstream a {\tserver 1.2.3.4:80 weight=5;}\r\n"),
            [
                "upstream",
                "a",
                "{",
                "server",
                "1.2.3.4:80",
                "weight=5",
                ";",
                "}"
            ]
        );
    }

    #[test]
    fn several_directives_on_one_line() {
        assert_eq!(
            words("a 1;b 2;{c;}"),
            ["a", "1", ";", "b", "2", ";", "{", "c", ";", "}"]
        );
    }

    #[test]
    fn quotes_hide_braces_semicolons_hashes_and_spaces() {
        assert_eq!(
            words(r#"x "a{;} #b" 'c\'d' "e\"f";"#),
            ["x", r#""a{;} #b""#, r"'c\'d'", r#""e\"f""#, ";"]
        );
    }

    #[test]
    fn comments_only_at_token_start() {
        assert_eq!(words("a#b # comment { ; }\nc;"), ["a#b", "c", ";"]);
        assert_eq!(words("a; # x\r\nb;"), ["a", ";", "b", ";"]);
    }

    #[test]
    fn a_closing_brace_inside_a_word_belongs_to_the_word() {
        // nginx itself reads `a}b` as one word.
        assert_eq!(words("default a}b;"), ["default", "a}b", ";"]);
    }

    #[test]
    fn variables_with_braces_stay_in_the_word() {
        assert_eq!(
            words("set $x ${host}abc;"),
            ["set", "$x", "${host}abc", ";"]
        );
        assert_eq!(
            words("return 200 x${a}y${b};"),
            ["return", "200", "x${a}y${b}", ";"]
        );
        // Without a `$` a brace opens a block.
        assert_eq!(words("upstream u{"), ["upstream", "u", "{"]);
    }

    #[test]
    fn backslash_escapes_the_next_byte() {
        assert_eq!(words(r"a\ b\;c;"), [r"a\ b\;c", ";"]);
        assert_eq!(words("a\\é;"), ["a\\é", ";"]);
        assert_eq!(words("a\\"), ["a\\"]);
    }

    #[test]
    fn unterminated_quote_is_an_error() {
        let e = tokenize("a \"b;").unwrap_err();
        assert_eq!(e.offset, 2);
        assert!(tokenize("a 'b\\'").is_err());
    }

    #[test]
    fn a_quote_must_be_followed_by_a_separator() {
        let e = tokenize(r#"x "a"b;"#).unwrap_err();
        assert_eq!(e.offset, 5);
        assert!(e.message.contains("`b`"), "{}", e.message);
        assert!(tokenize(r#"x "a"}"#).is_err());
        assert!(tokenize(r#"if ($a = "b") {"#).is_ok());
    }

    #[test]
    fn unquote_resolves_escapes() {
        assert_eq!(unquote(r#""a\"b""#), "a\"b");
        assert_eq!(unquote(r"'a\'b'"), "a'b");
        assert_eq!(unquote(r"a\x"), r"a\x");
        assert_eq!(unquote("\""), "\"");
    }

    #[test]
    fn line_col_counts_from_one_in_characters() {
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
        assert_eq!(line_col("é\"", 2), (1, 2));
        assert_eq!(line_col("é", 1), (1, 1));
        assert_eq!(line_col("a\r\nb", 3), (2, 1));
    }
}
