//! A tokenizer for nginx configuration syntax that keeps byte spans, so an editor can change
//! single tokens and leave every other byte alone.
//!
//! It follows nginx's own reader (ngx_conf_read_token): words end at whitespace, `;`, `{` or
//! `}`; `#` starts a comment only at the start of a token; `"…"` and `'…'` are quoted with
//! backslash escapes; `${var}` inside a word is part of the word.

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
    pub span: Range<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenError {
    pub offset: usize,
    pub message: &'static str,
}

pub fn tokenize(text: &str) -> Result<Vec<Token>, TokenError> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b';' => {
                out.push(Token {
                    kind: Kind::Semi,
                    span: i..i + 1,
                });
                i += 1;
            }
            b'{' => {
                out.push(Token {
                    kind: Kind::Open,
                    span: i..i + 1,
                });
                i += 1;
            }
            b'}' => {
                out.push(Token {
                    kind: Kind::Close,
                    span: i..i + 1,
                });
                i += 1;
            }
            q @ (b'"' | b'\'') => {
                let start = i;
                i += 1;
                loop {
                    match b.get(i) {
                        None => {
                            return Err(TokenError {
                                offset: start,
                                message: "unterminated quoted string",
                            })
                        }
                        Some(b'\\') => i += 1 + char_len(b.get(i + 1)),
                        Some(c) if *c == q => {
                            i += 1;
                            break;
                        }
                        Some(_) => i += 1,
                    }
                }
                out.push(Token {
                    kind: Kind::Word,
                    span: start..i.min(b.len()),
                });
            }
            _ => {
                let start = i;
                while i < b.len() {
                    match b[i] {
                        b' ' | b'\t' | b'\r' | b'\n' | b';' | b'}' => break,
                        b'{' if i > start && b[i - 1] == b'$' => {
                            // `${var}`: the braces belong to the word.
                            while i < b.len() && b[i] != b'}' {
                                i += 1;
                            }
                            if i >= b.len() {
                                return Err(TokenError {
                                    offset: start,
                                    message: "unterminated ${variable}",
                                });
                            }
                            i += 1;
                        }
                        b'{' => break,
                        b'\\' => i += 1 + char_len(b.get(i + 1)),
                        _ => i += 1,
                    }
                }
                out.push(Token {
                    kind: Kind::Word,
                    span: start..i.min(b.len()),
                });
            }
        }
    }
    Ok(out)
}

/// Length of the UTF-8 character starting with `lead` (1 past the end of input).
fn char_len(lead: Option<&u8>) -> usize {
    match lead {
        Some(c) if *c >= 0xF0 => 4,
        Some(c) if *c >= 0xE0 => 3,
        Some(c) if *c >= 0xC0 => 2,
        _ => 1,
    }
}

/// A word's value: quotes removed and escapes resolved.
pub fn unquote(raw: &str) -> String {
    let inner = match raw.as_bytes().first() {
        Some(b'"') | Some(b'\'') if raw.len() >= 2 => &raw[1..raw.len() - 1],
        _ => raw,
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text.as_bytes()[..offset.min(text.len())];
    let line = before.iter().filter(|c| **c == b'\n').count() + 1;
    let col = before.iter().rev().take_while(|c| **c != b'\n').count() + 1;
    (line, col)
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
    fn quotes_hide_braces_semicolons_and_hashes() {
        assert_eq!(
            words(r#"x "a{;}#b" 'c\'d';"#),
            ["x", r#""a{;}#b""#, r"'c\'d'", ";"]
        );
    }

    #[test]
    fn comments_only_at_token_start() {
        assert_eq!(words("a#b # comment {\nc;"), ["a#b", "c", ";"]);
    }

    #[test]
    fn variables_with_braces_stay_in_the_word() {
        assert_eq!(
            words("set $x ${host}abc;"),
            ["set", "$x", "${host}abc", ";"]
        );
    }

    #[test]
    fn unterminated_quote_is_an_error() {
        assert!(tokenize("a \"b;").is_err());
    }

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
    }
}
