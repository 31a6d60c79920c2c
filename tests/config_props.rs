//! The configuration reader never panics, and every error it reports is located in the file.

use std::path::Path;

use proptest::prelude::*;
use sluice::config::parse;

const LAB: &str = include_str!("../config/lab.yaml");

fn check_located(text: &str) {
    if let Err(diags) = parse(Path::new("p.yaml"), text) {
        let lines = text.lines().count() as u64 + 1;
        for d in diags {
            assert!(d.line >= 1 && d.column >= 1, "{d}");
            assert!(d.line <= lines.max(1), "{d} beyond {lines} lines");
        }
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    DeleteLine(usize),
    DuplicateLine(usize),
    ReplaceChar(usize, char),
    NumberToString(usize),
    Truncate(usize),
    SwapLines(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::DeleteLine),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (
            any::<usize>(),
            prop::sample::select(vec![
                ':', '{', '}', '[', ']', '-', '"', '\'', ' ', '\t', '#', 'x', '0', '\n', '&', '*',
                '!'
            ])
        )
            .prop_map(|(i, c)| Mutation::ReplaceChar(i, c)),
        any::<usize>().prop_map(Mutation::NumberToString),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
    ]
}

fn apply(text: &str, m: &Mutation) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let n = lines.len().max(1);
    match m {
        Mutation::DeleteLine(i) => {
            if !lines.is_empty() {
                lines.remove(i % n);
            }
        }
        Mutation::DuplicateLine(i) => {
            if !lines.is_empty() {
                let l = lines[i % n].clone();
                lines.insert(i % n, l);
            }
        }
        Mutation::SwapLines(a, b) => {
            if !lines.is_empty() {
                lines.swap(a % n, b % n);
            }
        }
        Mutation::ReplaceChar(i, c) => {
            let chars: Vec<char> = text.chars().collect();
            let mut chars = chars;
            if !chars.is_empty() {
                let k = i % chars.len();
                chars[k] = *c;
            }
            return chars.into_iter().collect();
        }
        Mutation::NumberToString(i) => {
            let idx: Vec<(usize, char)> = text
                .char_indices()
                .filter(|(_, c)| c.is_ascii_digit())
                .collect();
            if idx.is_empty() {
                return text.to_string();
            }
            let (at, _) = idx[i % idx.len()];
            return format!(
                "{}\"x{}\"{}",
                &text[..at],
                &text[at..at + 1],
                &text[at + 1..]
            );
        }
        Mutation::Truncate(i) => {
            let cut = text
                .char_indices()
                .map(|(i, _)| i)
                .nth(i % text.chars().count().max(1))
                .unwrap_or(0);
            return text[..cut].to_string();
        }
    }
    lines.join("\n") + "\n"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn never_panics_on_arbitrary_text(text in "\\PC{0,400}") {
        check_located(&text);
    }

    #[test]
    fn never_panics_on_yaml_shaped_text(text in "([a-z_]{1,8}: ?(\\[|\\{|\"|'|-|[0-9]{1,3}|[a-z]{1,5}|\\}|\\])* ?\n {0,4}){0,30}") {
        check_located(&text);
    }

    #[test]
    fn never_panics_on_mutated_lab_config(ms in prop::collection::vec(mutation(), 1..4)) {
        let mut text = LAB.to_string();
        for m in &ms {
            text = apply(&text, m);
        }
        check_located(&text);
    }
}
