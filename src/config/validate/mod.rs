//! From a located YAML tree to the validated model, collecting every error on the way.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::diagnostic::Diagnostic;
use super::duration::parse_duration;
use super::model::*;
use super::node::{Node, Value};

mod analysis;
mod approvals;
mod checks;
mod hosts;
mod notify;
mod policy;
mod prometheus;
mod services;
mod strategies;
mod watch;

use analysis::analysis;
use hosts::hosts;
use policy::policy;
use services::services;
use strategies::strategies;

struct V<'a> {
    file: &'a Path,
    diags: Vec<Diagnostic>,
}

/// A mapping whose keys were checked against the allowed set.
struct Fields<'n> {
    /// Where a missing key is reported: the key that introduced this mapping when there is
    /// one (`api:` for a service), else the mapping itself.
    anchor: &'n Node,
    entries: Vec<(&'n str, &'n Node, &'n Node)>,
    /// Allowed keys that an unknown key was taken for a misspelling of: already reported
    /// ("did you mean"), so not reported again as missing.
    misspelt: Vec<String>,
}

impl<'n> Fields<'n> {
    fn get(&self, key: &str) -> Option<&'n Node> {
        self.entry(key).map(|(_, v)| v)
    }

    fn entry(&self, key: &str) -> Option<(&'n Node, &'n Node)> {
        self.entries
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, k, v)| (*k, *v))
    }
}

pub fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
}

const NAME_RULE: &str =
    "use lowercase letters, digits, `.`, `_` and `-`, starting with a letter or digit";

/// Edit distance counting a swap of two neighbours as one edit (optimal string alignment),
/// for "did you mean" suggestions; inputs are short keys.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, x) in d[0].iter_mut().enumerate() {
        *x = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// The closest of `options` to a misspelt `word`, if it is close enough to be a likely typo.
fn suggest<'o>(word: &str, options: &[&'o str]) -> Option<&'o str> {
    if word.chars().count() > 64 {
        return None;
    }
    let w = word.to_ascii_lowercase().replace('-', "_");
    options
        .iter()
        .map(|o| (distance(&w, &o.replace('-', "_")), *o))
        .filter(|(d, o)| *d <= (o.len() / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, o)| o)
}

pub(crate) fn did_you_mean(word: &str, options: &[&str]) -> String {
    suggest(word, options).map_or(String::new(), |o| format!(" (did you mean `{o}`?)"))
}

impl<'a> V<'a> {
    fn err(&mut self, n: &Node, msg: impl Into<String>) {
        let mut msg = msg.into();
        if n.defined_line != n.line {
            msg.push_str(&format!(" (the value comes from line {})", n.defined_line));
        }
        self.diags
            .push(Diagnostic::new(self.file, n.line, n.column, msg));
    }

    /// The entries of mapping `n`, reporting unknown keys. An empty value (`key:` with
    /// nothing after it) reads as an empty mapping, so its required keys are reported.
    fn fields<'n>(&mut self, n: &'n Node, what: &str, allowed: &[&str]) -> Option<Fields<'n>> {
        self.fields_at(n, n, what, allowed)
    }

    fn fields_at<'n>(
        &mut self,
        anchor: &'n Node,
        n: &'n Node,
        what: &str,
        allowed: &[&str],
    ) -> Option<Fields<'n>> {
        let m: &[(Node, Node)] = match &n.value {
            Value::Map(m) => m,
            Value::Null => &[],
            other => {
                self.err(
                    n,
                    format!("{what} must be a mapping, found {}", other.found()),
                );
                return None;
            }
        };
        let mut entries = Vec::new();
        let mut misspelt = Vec::new();
        for (k, v) in m {
            let Value::Str(key) = &k.value else {
                self.err(
                    k,
                    format!("keys in {what} must be strings, found {}", k.value.found()),
                );
                continue;
            };
            if !allowed.contains(&key.as_str()) {
                misspelt.extend(suggest(key, allowed).map(str::to_string));
                self.err(
                    k,
                    format!(
                        "unknown key `{key}` in {what}{}; expected one of: {}",
                        did_you_mean(key, allowed),
                        allowed.join(", ")
                    ),
                );
                continue;
            }
            entries.push((key.as_str(), k, v));
        }
        Some(Fields {
            anchor,
            entries,
            misspelt,
        })
    }

    /// The mapping under `key` in `f`, if present; its missing keys are reported at `key`.
    fn section<'n>(
        &mut self,
        f: &Fields<'n>,
        key: &str,
        what: &str,
        allowed: &[&str],
    ) -> Option<Fields<'n>> {
        let (k, body) = f.entry(key)?;
        self.fields_at(k, body, what, allowed)
    }

    fn require<'n>(&mut self, f: &Fields<'n>, key: &str, what: &str) -> Option<&'n Node> {
        let v = f.get(key);
        if v.is_none() && !f.misspelt.iter().any(|m| m == key) {
            self.err(f.anchor, format!("{what} is missing required key `{key}`"));
        }
        v
    }

    fn string(&mut self, n: &Node, what: &str) -> Option<String> {
        match &n.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            other => {
                self.err(
                    n,
                    format!("{what} must be a string, found {}", other.found()),
                );
                None
            }
        }
    }

    fn name(&mut self, n: &Node, what: &str) -> Option<String> {
        let s = self.string(n, what)?;
        if is_name(&s) {
            Some(s)
        } else {
            self.err(n, format!("{what} `{s}` is not a valid name; {NAME_RULE}"));
            None
        }
    }

    /// A list of names; a name listed twice is an error.
    fn names(&mut self, n: &Node, what: &str) -> Vec<(String, Node)> {
        let Value::Seq(items) = &n.value else {
            self.err(
                n,
                format!(
                    "{what} must be a list such as [a, b], found {}",
                    n.value.found()
                ),
            );
            return Vec::new();
        };
        let mut out: Vec<(String, Node)> = Vec::new();
        for i in items {
            let Some(s) = self.name(i, what) else {
                continue;
            };
            if let Some((_, first)) = out.iter().find(|(x, _)| *x == s) {
                let line = first.line;
                self.err(
                    i,
                    format!("{what} `{s}` is listed twice (first on line {line})"),
                );
                continue;
            }
            out.push((s, i.clone()));
        }
        out
    }

    fn int(&mut self, n: &Node, what: &str, min: i128, max: i128) -> Option<i128> {
        match &n.value {
            Value::Int(i) if (min..=max).contains(i) => Some(*i),
            Value::Int(i) => {
                self.err(n, format!("{what} {i} is out of range {min}..={max}"));
                None
            }
            other => {
                // `"8081"` or `08081`: a number written as a string.
                let hint = match other {
                    Value::Str(s) => s
                        .trim()
                        .parse::<i128>()
                        .map(|p| format!("; write it as a plain number: {p}"))
                        .unwrap_or_default(),
                    _ => String::new(),
                };
                self.err(
                    n,
                    format!(
                        "{what} must be a whole number, found {}{hint}",
                        other.found()
                    ),
                );
                None
            }
        }
    }

    fn boolean(&mut self, n: &Node, what: &str) -> Option<bool> {
        match &n.value {
            Value::Bool(b) => Some(*b),
            Value::Str(s)
                if matches!(
                    s.to_ascii_lowercase().as_str(),
                    "yes" | "no" | "on" | "off" | "y" | "n"
                ) =>
            {
                self.err(
                    n,
                    format!("{what} must be true or false, found `{s}`; write true or false"),
                );
                None
            }
            other => {
                self.err(
                    n,
                    format!("{what} must be true or false, found {}", other.found()),
                );
                None
            }
        }
    }

    fn duration(&mut self, n: &Node, what: &str) -> Option<Duration> {
        match &n.value {
            Value::Str(s) => match parse_duration(s) {
                Ok(d) => Some(d),
                Err(e) => {
                    self.err(n, format!("{what}: {e}"));
                    None
                }
            },
            Value::Int(i) => {
                self.err(
                    n,
                    format!("{what}: `{i}` has no unit; write e.g. {i}s or {i}ms"),
                );
                None
            }
            other => {
                self.err(
                    n,
                    format!(
                        "{what} must be a duration such as 30s, 500ms or 1m30s, found {}",
                        other.found()
                    ),
                );
                None
            }
        }
    }

    fn opt<T>(
        &mut self,
        f: &Fields,
        key: &str,
        default: T,
        get: impl FnOnce(&mut Self, &Node) -> Option<T>,
    ) -> T {
        match f.get(key) {
            Some(n) => get(self, n).unwrap_or(default),
            None => default,
        }
    }

    /// A string that may hold `{host}`/`{service}`; other placeholders are errors.
    fn template(&mut self, n: &Node, what: &str) -> Option<String> {
        let s = self.string(n, what)?;
        let mut rest = s.as_str();
        while let Some(i) = rest.find('{') {
            let after = &rest[i..];
            let end = after.find('}').map_or(after.len(), |j| j + 1);
            let ph = &after[..end];
            if ph != "{host}" && ph != "{service}" {
                let hint = if ph.ends_with('}') {
                    did_you_mean(ph, &["{host}", "{service}"])
                } else {
                    " (unclosed `{`)".to_string()
                };
                self.err(
                    n,
                    format!(
                        "{what}: unknown placeholder `{ph}`{hint}; only {{host}} and {{service}} are expanded"
                    ),
                );
                return None;
            }
            rest = &after[end..];
        }
        if s.chars().any(|c| c.is_control()) {
            self.err(n, format!("{what} contains control characters"));
            return None;
        }
        Some(s)
    }

    fn abs_path(&mut self, n: &Node, what: &str) -> Option<String> {
        let s = self.template(n, what)?;
        if !s.starts_with('/') {
            self.err(n, format!("{what} `{s}` must be an absolute path"));
            return None;
        }
        Some(s)
    }

    fn local_path(&mut self, n: &Node, what: &str) -> Option<PathBuf> {
        let s = self.string(n, what)?;
        if s.is_empty() {
            self.err(n, format!("{what} is empty"));
            return None;
        }
        Some(expand_home(&s))
    }
}

/// Report every repeated key (the parser passes them through) and keep the first of each,
/// so that validation goes on over a tree without repeats.
fn repeated_keys(v: &mut V, n: &mut Node) {
    match &mut n.value {
        Value::Map(m) => {
            let mut seen: Vec<(String, u64)> = Vec::new();
            let mut keep = Vec::with_capacity(m.len());
            for (k, mut val) in std::mem::take(m) {
                let text = match &k.value {
                    Value::Seq(_) | Value::Map(_) => None,
                    other => Some(key_text_of(other)),
                };
                if let Some(t) = text {
                    if let Some((_, line)) = seen.iter().find(|(s, _)| *s == t) {
                        v.err(
                            &k,
                            format!("key `{t}` is repeated (first on line {line}); keep one"),
                        );
                        continue;
                    }
                    seen.push((t, k.line));
                }
                repeated_keys(v, &mut val);
                keep.push((k, val));
            }
            *m = keep;
        }
        Value::Seq(items) => {
            for i in items {
                repeated_keys(v, i);
            }
        }
        _ => {}
    }
}

fn key_text_of(v: &Value) -> String {
    match v {
        Value::Str(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".to_string(),
        other => other.kind().to_string(),
    }
}

/// The names a mapping declares (its string keys), valid or not: references are checked
/// against these, so that a broken definition is reported once, at the definition, rather
/// than again as "not defined" at every reference.
fn declared_keys(n: Option<&Node>) -> Vec<String> {
    match n.map(|n| &n.value) {
        Some(Value::Map(m)) => m.iter().map(|(k, _)| key_text(k)).collect(),
        _ => Vec::new(),
    }
}

fn unique(mut names: Vec<String>) -> Vec<String> {
    let mut seen = HashSet::new();
    names.retain(|n| seen.insert(n.clone()));
    names
}

/// The names the `hosts` list declares, valid or not.
fn declared_hosts(n: Option<&Node>) -> Vec<String> {
    let Some(Value::Seq(items)) = n.map(|n| &n.value) else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|i| match &i.value {
            Value::Map(m) => m
                .iter()
                .find_map(|(k, v)| (k.value == Value::Str("name".into())).then(|| key_text(v))),
            _ => None,
        })
        .collect()
}

fn key_text(k: &Node) -> String {
    key_text_of(&k.value)
}

fn listing<S: AsRef<str>>(names: &[S]) -> String {
    if names.is_empty() {
        "none are defined".to_string()
    } else {
        names
            .iter()
            .map(AsRef::as_ref)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// "`x` is not defined; <kind>: a, b" with a suggestion when `x` looks like a typo.
fn undefined(kind: &str, what: &str, x: &str, known: &[String]) -> String {
    let refs: Vec<&str> = known.iter().map(String::as_str).collect();
    format!(
        "{what} `{x}` is not defined{}; {kind}: {}",
        did_you_mean(x, &refs),
        listing(known)
    )
}

fn expand_home(s: &str) -> PathBuf {
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty());
    match (s, s.strip_prefix("~/"), home) {
        ("~", _, Some(home)) => PathBuf::from(home),
        (_, Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(s),
    }
}

const TOP: &[&str] = &[
    "store",
    "ssh",
    "environments",
    "hosts",
    "services",
    "strategies",
    "analysis",
    "policy",
    "checks",
];

const HOST_KEYS: &[&str] = &[
    "name",
    "address",
    "port",
    "user",
    "identity_file",
    "known_hosts",
    "accept_new_host_key",
    "backend_address",
    "cloud",
    "region",
    "environment",
    "forbidden",
    "ports",
];

const SERVICE_KEYS: &[&str] = &[
    "hosts",
    "image",
    "nginx",
    "tracks",
    "compose",
    "health",
    "depends_on",
    "strategy",
    "trickle",
    "warmup",
];

/// Names declared in the file, valid or not (see `declared_keys`).
struct Declared {
    environments: Vec<String>,
    hosts: Vec<String>,
    services: Vec<String>,
    strategies: Vec<String>,
}

pub fn validate(file: &Path, mut root: Node) -> Result<Config, Vec<Diagnostic>> {
    let mut v = V {
        file,
        diags: Vec::new(),
    };
    repeated_keys(&mut v, &mut root);
    let root = &root;
    if root.value == Value::Null {
        v.diags.push(Diagnostic::new(
            file,
            1,
            1,
            "the configuration is empty; see config/lab.yaml for an example",
        ));
        return Err(v.diags);
    }
    let Some(top) = v.fields(root, "the configuration", TOP) else {
        return Err(v.diags);
    };
    let declared = Declared {
        environments: declared_keys(top.get("environments")),
        hosts: unique(declared_hosts(top.get("hosts"))),
        services: declared_keys(top.get("services")),
        strategies: declared_keys(top.get("strategies")),
    };

    let store = top
        .entry("store")
        .map_or_else(default_store, |(k, n)| store(&mut v, k, n));
    let ssh = ssh(&mut v, &top);
    let environments = environments(&mut v, top.get("environments"));
    let hosts = hosts(&mut v, top.get("hosts"), &environments, &declared);
    let strategies = strategies(&mut v, top.get("strategies"));
    let services = services(&mut v, top.get("services"), &hosts, &strategies, &declared);
    let analysis = analysis(&mut v, &top);
    let policy = policy(&mut v, &top, &declared, &environments);
    let checks = checks::checks(&mut v, &top);

    if v.diags.is_empty() {
        Ok(Config {
            path: file.to_path_buf(),
            store,
            ssh,
            environments: environments
                .into_iter()
                .map(|e| (e.name.clone(), e))
                .collect(),
            hosts: hosts.into_iter().map(|h| (h.name.clone(), h)).collect(),
            services: services.into_iter().map(|s| (s.name.clone(), s)).collect(),
            strategies: strategies
                .into_iter()
                .map(|s| (s.name.clone(), s))
                .collect(),
            analysis,
            policy,
            checks,
        })
    } else {
        // File order; a stable sort keeps several errors at one place in the order found.
        v.diags.sort_by_key(|d| (d.line, d.column));
        v.diags.dedup();
        Err(v.diags)
    }
}

fn default_store() -> Store {
    Store::Local {
        path: expand_home("~/.local/state/sluice"),
    }
}

fn store(v: &mut V, key: &Node, n: &Node) -> Store {
    let Some(f) = v.fields_at(key, n, "store", &["kind", "path", "url"]) else {
        return default_store();
    };
    let kind = v.opt(&f, "kind", "local".to_string(), |v, n| {
        v.string(n, "store.kind")
    });
    match kind.as_str() {
        "local" => {
            if let Some((u, _)) = f.entry("url") {
                v.err(
                    u,
                    "`url` belongs to a redis store (kind: redis); a local store has a path",
                );
            }
            match f.get("path") {
                Some(p) => Store::Local {
                    path: v.local_path(p, "store.path").unwrap_or_default(),
                },
                None => default_store(),
            }
        }
        "redis" => {
            if let Some((p, _)) = f.entry("path") {
                v.err(
                    p,
                    "`path` belongs to a local store (kind: local); a redis store has a url",
                );
            }
            let url = v
                .require(&f, "url", "a redis store")
                .and_then(|u| v.string(u, "store.url").map(|s| (s, u)));
            match url {
                Some((url, u)) => {
                    let ok = ["redis://", "rediss://"].iter().any(|p| {
                        url.strip_prefix(p).is_some_and(|rest| {
                            !rest.is_empty() && !rest.contains(char::is_whitespace)
                        })
                    });
                    if !ok {
                        v.err(
                            u,
                            format!("store.url `{url}` must look like redis://host:6379 (or rediss:// for TLS)"),
                        );
                    }
                    Store::Redis { url }
                }
                None => Store::Redis { url: String::new() },
            }
        }
        other => {
            if let Some(k) = f.get("kind") {
                v.err(
                    k,
                    format!("store.kind `{other}` is unknown; use local or redis"),
                );
            }
            default_store()
        }
    }
}

fn ssh(v: &mut V, top: &Fields) -> Ssh {
    let mut s = Ssh {
        connect_timeout: Duration::from_secs(5),
        command_timeout: Duration::from_secs(60),
    };
    if let Some(f) = v.section(top, "ssh", "ssh", &["connect_timeout", "command_timeout"]) {
        s.connect_timeout = v.opt(&f, "connect_timeout", s.connect_timeout, |v, n| {
            positive(v, n, "ssh.connect_timeout")
        });
        s.command_timeout = v.opt(&f, "command_timeout", s.command_timeout, |v, n| {
            positive(v, n, "ssh.command_timeout")
        });
    }
    s
}

/// A duration that must not be zero (timeouts, intervals).
fn positive(v: &mut V, n: &Node, what: &str) -> Option<Duration> {
    let d = v.duration(n, what)?;
    if d.is_zero() {
        v.err(n, format!("{what} must be longer than 0"));
        return None;
    }
    Some(d)
}

fn map_entries<'n>(v: &mut V, n: &'n Node, what: &str, example: &str) -> Vec<(&'n Node, &'n Node)> {
    match &n.value {
        Value::Map(m) => m.iter().map(|(k, v)| (k, v)).collect(),
        Value::Null => Vec::new(),
        other => {
            v.err(
                n,
                format!(
                    "{what} must be a mapping from names to settings ({example}), found {}",
                    other.found()
                ),
            );
            Vec::new()
        }
    }
}

fn environments(v: &mut V, n: Option<&Node>) -> Vec<Environment> {
    let Some(n) = n else { return Vec::new() };
    let mut out = Vec::new();
    for (k, body) in map_entries(v, n, "environments", "staging: { approval: none }") {
        let name = v.name(k, "environment name");
        let what = format!("environment {}", key_text(k));
        let Some(f) = v.fields_at(
            k,
            body,
            &what,
            &[
                "approval",
                "approvers",
                "four_eyes",
                "theme",
                "notify",
                "approval_timeout",
            ],
        ) else {
            continue;
        };
        let approval = v.opt(&f, "approval", Approval::None, |v, a| {
            match v.string(a, "approval")?.as_str() {
                "none" => Some(Approval::None),
                "required" => Some(Approval::Required),
                s => {
                    v.err(
                        a,
                        format!("approval `{s}` is unknown; use none or required"),
                    );
                    None
                }
            }
        });
        let approvers: Vec<String> = f
            .get("approvers")
            .map(|a| v.names(a, "approver").into_iter().map(|x| x.0).collect())
            .unwrap_or_default();
        let four_eyes = v.opt(&f, "four_eyes", false, |v, n| v.boolean(n, "four_eyes"));
        if let (true, Some(fe)) = (four_eyes, f.get("four_eyes")) {
            if approval != Approval::Required {
                v.err(
                    fe,
                    "four_eyes needs approval: required (there is nothing to approve otherwise)",
                );
            } else if approvers.len() == 1 {
                v.err(
                    fe,
                    format!(
                        "four_eyes needs two different approvers, but only {} is listed",
                        approvers[0]
                    ),
                );
            }
        }
        let approval_timeout = approvals::approval_timeout(v, &f);
        let theme = f.get("theme").and_then(|t| v.name(t, "theme"));
        let notify = notify::notifiers(v, f.get("notify"), &key_text(k));
        if let Some(name) = name {
            out.push(Environment {
                name,
                approval,
                approvers,
                four_eyes,
                theme,
                notify,
                approval_timeout,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_catch_typos_only() {
        assert_eq!(suggest("stratgy", SERVICE_KEYS), Some("strategy"));
        assert_eq!(suggest("depends-on", SERVICE_KEYS), Some("depends_on"));
        assert_eq!(suggest("Image", SERVICE_KEYS), Some("image"));
        assert_eq!(suggest("tset", &["test", "reload"]), Some("test"));
        assert_eq!(suggest("replicas", SERVICE_KEYS), None);
        assert_eq!(suggest("{hots}", &["{host}", "{service}"]), Some("{host}"));
    }

    #[test]
    fn names() {
        assert!(is_name("web-1"));
        assert!(is_name("0a._-"));
        assert!(!is_name(""));
        assert!(!is_name("-web"));
        assert!(!is_name("Web"));
        assert!(!is_name("a b"));
    }

    #[test]
    fn home_is_expanded() {
        if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
            assert_eq!(expand_home("~/x"), PathBuf::from(&home).join("x"));
            assert_eq!(expand_home("~"), PathBuf::from(&home));
        }
        assert_eq!(expand_home("/x/~"), PathBuf::from("/x/~"));
        assert_eq!(expand_home("~bob/x"), PathBuf::from("~bob/x"));
    }
}
