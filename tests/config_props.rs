//! The configuration reader never panics, every error it reports is located inside the file
//! and listed in file order, and whatever it accepts keeps the model's promises.

use std::collections::HashSet;
use std::path::Path;

use proptest::prelude::*;
use sluice::config::{parse, Config, StrategyKind};

const LAB: &str = include_str!("../config/lab.yaml");

fn is_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && c.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || ".-_".contains(c))
}

/// What the engine relies on without checking again (see `config::model`).
fn invariants(c: &Config) {
    for (name, e) in &c.environments {
        assert!(is_name(name) && *name == e.name);
    }
    for (name, h) in &c.hosts {
        assert!(is_name(name) && *name == h.name);
        assert!(c.environments.contains_key(&h.environment), "{h:?}");
        assert!(h.port > 0);
    }
    let mut ports = HashSet::new();
    for (name, s) in &c.services {
        assert!(is_name(name) && *name == s.name);
        assert!(!s.hosts.is_empty());
        let envs: HashSet<&str> = s
            .hosts
            .iter()
            .map(|h| c.hosts[h].environment.as_str())
            .collect();
        assert_eq!(envs.len(), 1, "{s:?}");
        assert!(c.strategies.contains_key(&s.strategy), "{s:?}");
        for d in &s.depends_on {
            assert!(c.services.contains_key(d), "{s:?}");
        }
        if s.stable.port != sluice::config::Port::Auto {
            assert_ne!(s.stable.port, s.canary.port);
        }
        assert!(s.trickle <= 5);
        assert!(s.compose == "docker compose" || s.compose == "docker-compose");
        for h in &s.hosts {
            let p = s.expand(h);
            assert!(is_name(&p.stable.project) && is_name(&p.canary.project));
            assert!(is_name(&p.upstream));
            assert!(p.upstream_file.starts_with('/'));
            for t in [&p.stable, &p.canary] {
                let Some(port) = t.port.fixed() else { continue };
                assert!(port > 0);
                assert!(ports.insert((h.clone(), port)), "port {port} twice on {h}");
            }
        }
    }
    for (name, s) in &c.strategies {
        assert!(is_name(name) && *name == s.name);
        match &s.kind {
            StrategyKind::Canary { steps, .. } => {
                assert!(!steps.is_empty());
                assert!(steps.windows(2).all(|w| w[0] < w[1]));
                assert!(steps
                    .iter()
                    .all(|p| (1..=100).contains(&p.canary_percent())));
            }
            StrategyKind::CanaryManual { initial } => assert!(initial.canary_percent() <= 100),
            _ => {}
        }
    }
}

/// Parse; errors are located within the text and sorted; an accepted config is sound.
fn check(text: &str) {
    match parse(Path::new("p.yaml"), text) {
        Ok(c) => invariants(&c),
        Err(diags) => {
            assert!(!diags.is_empty());
            // YAML breaks lines at \n, \r\n and a lone \r.
            let lines = text
                .replace("\r\n", "\n")
                .replace('\r', "\n")
                .lines()
                .count() as u64
                + 1;
            for d in &diags {
                assert!(d.line >= 1 && d.column >= 1, "{d}");
                assert!(d.line <= lines, "{d} beyond {lines} lines");
                assert!(!d.message.is_empty());
                assert!(d
                    .to_string()
                    .starts_with(&format!("p.yaml:{}:{}: ", d.line, d.column)));
            }
            assert!(
                diags
                    .windows(2)
                    .all(|w| (w[0].line, w[0].column) <= (w[1].line, w[1].column)),
                "not in file order: {diags:?}"
            );
        }
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    DeleteLine(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    ReplaceChar(usize, char),
    ReplaceToken(usize, &'static str),
    NumberToString(usize),
    QuoteNumber(usize),
    Truncate(usize),
}

/// Tokens worth dropping in where another token was: keys, values, YAML punctuation.
const TOKENS: &[&str] = &[
    "web-1",
    "web-9",
    "demo",
    "staging",
    "production",
    "canary",
    "rolling",
    "blue-green",
    "canary-manual",
    "steps",
    "bake",
    "port",
    "hosts",
    "services",
    "strategy",
    "depends_on",
    "0",
    "-1",
    "101",
    "65536",
    "8081",
    "1.5",
    "30",
    "30s",
    "1m30s",
    "true",
    "no",
    "null",
    "~",
    "\"\"",
    "[]",
    "{}",
    "[demo]",
    "{host}",
    "{x}",
    "/abs",
    "rel/path",
    "*a",
    "&a",
    "!!str",
    "<<",
    ":",
    "- ",
    "? ",
    "|",
    ">",
    "#",
    "\"",
    "'",
];

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::DeleteLine),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        (
            any::<usize>(),
            prop::sample::select(vec![
                ':', '{', '}', '[', ']', '-', '"', '\'', ' ', '\t', '#', 'x', '0', '\n', '&', '*',
                '!', ',', '|', '>', '%', '@', 'é', '\u{0}',
            ])
        )
            .prop_map(|(i, c)| Mutation::ReplaceChar(i, c)),
        (any::<usize>(), prop::sample::select(TOKENS))
            .prop_map(|(i, t)| Mutation::ReplaceToken(i, t)),
        any::<usize>().prop_map(Mutation::NumberToString),
        any::<usize>().prop_map(Mutation::QuoteNumber),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

/// Byte ranges of the "words" of `text` (runs of characters that are not YAML punctuation).
fn tokens(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        let word = c.is_alphanumeric() || "-_./{}~".contains(c);
        match (word, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, text.len()));
    }
    out
}

/// Byte ranges of the numbers in `text`.
fn numbers(text: &str) -> Vec<(usize, usize)> {
    tokens(text)
        .into_iter()
        .filter(|&(a, b)| text[a..b].bytes().all(|c| c.is_ascii_digit()))
        .collect()
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
            let mut chars: Vec<char> = text.chars().collect();
            if !chars.is_empty() {
                let k = i % chars.len();
                chars[k] = *c;
            }
            return chars.into_iter().collect();
        }
        Mutation::ReplaceToken(i, t) => {
            let toks = tokens(text);
            if toks.is_empty() {
                return text.to_string();
            }
            let (a, b) = toks[i % toks.len()];
            return format!("{}{t}{}", &text[..a], &text[b..]);
        }
        Mutation::NumberToString(i) => {
            let nums = numbers(text);
            if nums.is_empty() {
                return text.to_string();
            }
            let (a, b) = nums[i % nums.len()];
            return format!("{}x{}{}", &text[..a], &text[a..b], &text[b..]);
        }
        Mutation::QuoteNumber(i) => {
            let nums = numbers(text);
            if nums.is_empty() {
                return text.to_string();
            }
            let (a, b) = nums[i % nums.len()];
            return format!("{}\"{}\"{}", &text[..a], &text[a..b], &text[b..]);
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

/// Random YAML built from sluice's own vocabulary, in block and flow style, so that the
/// checks behind the parser are reached with every kind of wrong value.
fn yaml_value(depth: u32) -> BoxedStrategy<String> {
    let key = prop::sample::select(vec![
        "store",
        "ssh",
        "environments",
        "hosts",
        "services",
        "strategies",
        "analysis",
        "kind",
        "name",
        "address",
        "port",
        "environment",
        "image",
        "nginx",
        "tracks",
        "stable",
        "canary",
        "project",
        "compose_file",
        "upstream",
        "upstream_file",
        "steps",
        "bake",
        "strategy",
        "depends_on",
        "approval",
        "initial",
        "provider",
        "prometheus",
        "url",
        "web-1",
        "demo",
        "staging",
        "auto",
    ]);
    let scalar = prop::sample::select(vec![
        "web-1",
        "demo",
        "staging",
        "auto",
        "canary",
        "canary-manual",
        "blue-green",
        "rolling",
        "local",
        "redis",
        "nginx-log",
        "0",
        "1",
        "50",
        "101",
        "8081",
        "-3",
        "0.5",
        "30s",
        "1m",
        "true",
        "false",
        "null",
        "/abs/{host}",
        "rel",
        "\"{x}\"",
        "\"\"",
        "required",
        "pause",
    ])
    .prop_map(str::to_string);
    if depth == 0 {
        return scalar.boxed();
    }
    let inner = yaml_value(depth - 1);
    prop_oneof![
        2 => scalar,
        1 => prop::collection::vec(inner.clone(), 0..4)
            .prop_map(|v| format!("[{}]", v.join(", "))),
        2 => prop::collection::vec((key, inner), 0..5).prop_map(|kv| {
            format!(
                "{{{}}}",
                kv.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join(", ")
            )
        }),
    ]
    .boxed()
}

fn yaml_document() -> impl Strategy<Value = String> {
    let top = prop::sample::select(vec![
        "store",
        "ssh",
        "environments",
        "hosts",
        "services",
        "strategies",
        "analysis",
        "extra",
    ]);
    prop::collection::vec((top, yaml_value(3)), 0..8).prop_map(|kv| {
        kv.iter()
            .map(|(k, v)| format!("{k}: {v}\n"))
            .collect::<String>()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn never_panics_on_arbitrary_text(text in "\\PC{0,400}") {
        check(&text);
    }

    #[test]
    fn never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        check(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn never_panics_on_yaml_shaped_text(text in "([a-z_]{1,8}: ?(\\[|\\{|\"|'|-|[0-9]{1,3}|[a-z]{1,5}|\\}|\\])* ?\n {0,4}){0,30}") {
        check(&text);
    }

    #[test]
    fn never_panics_on_random_documents_in_sluice_vocabulary(text in yaml_document()) {
        check(&text);
    }

    #[test]
    fn never_panics_on_mutated_lab_config(ms in prop::collection::vec(mutation(), 1..4)) {
        let mut text = LAB.to_string();
        for m in &ms {
            text = apply(&text, m);
        }
        check(&text);
    }
}

#[test]
fn the_lab_config_keeps_the_invariants() {
    check(LAB);
    assert!(parse(Path::new("lab.yaml"), LAB).is_ok());
}

#[test]
fn deep_nesting_and_alias_bombs_are_errors_not_crashes() {
    let deep = format!("a: {}{}\n", "[".repeat(10_000), "]".repeat(10_000));
    check(&deep);
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        bomb.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n",
            p = i - 1
        ));
    }
    check(&bomb);
    assert!(parse(Path::new("p.yaml"), &bomb).is_err());
}
