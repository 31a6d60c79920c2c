//! From a located YAML tree to the validated model, collecting every error on the way.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::diagnostic::Diagnostic;
use super::duration::parse_duration;
use super::model::*;
use super::node::{Node, Value};

mod analysis;
mod hosts;
mod services;
mod strategies;

use analysis::analysis;
use hosts::hosts;
use services::services;
use strategies::strategies;

struct V<'a> {
    file: &'a Path,
    diags: Vec<Diagnostic>,
}

/// A mapping whose keys were checked against the allowed set.
struct Fields<'n> {
    node: &'n Node,
    entries: Vec<(&'n str, &'n Node, &'n Node)>,
}

impl<'n> Fields<'n> {
    fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, _, v)| *v)
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

impl<'a> V<'a> {
    fn err(&mut self, n: &Node, msg: impl Into<String>) {
        self.diags
            .push(Diagnostic::new(self.file, n.line, n.column, msg));
    }

    fn fields<'n>(&mut self, n: &'n Node, what: &str, allowed: &[&str]) -> Option<Fields<'n>> {
        let Value::Map(m) = &n.value else {
            if n.value != Value::Null {
                self.err(
                    n,
                    format!("{what} must be a mapping, found {}", n.value.kind()),
                );
            }
            return None;
        };
        let mut entries = Vec::new();
        for (k, v) in m {
            let Value::Str(key) = &k.value else {
                self.err(
                    k,
                    format!("keys in {what} must be strings, found {}", k.value.kind()),
                );
                continue;
            };
            if !allowed.contains(&key.as_str()) {
                self.err(
                    k,
                    format!(
                        "unknown key `{key}` in {what}; expected one of: {}",
                        allowed.join(", ")
                    ),
                );
                continue;
            }
            entries.push((key.as_str(), k, v));
        }
        Some(Fields { node: n, entries })
    }

    fn require<'n>(&mut self, f: &Fields<'n>, key: &str, what: &str) -> Option<&'n Node> {
        let v = f.get(key);
        if v.is_none() {
            self.err(f.node, format!("{what} is missing required key `{key}`"));
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
                    format!("{what} must be a string, found {}", other.kind()),
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

    fn names(&mut self, n: &Node, what: &str) -> Vec<(String, &'static str, Node)> {
        let Value::Seq(items) = &n.value else {
            self.err(
                n,
                format!("{what} must be a list, found {}", n.value.kind()),
            );
            return Vec::new();
        };
        items
            .iter()
            .filter_map(|i| self.name(i, what).map(|s| (s, "", i.clone())))
            .collect()
    }

    fn int(&mut self, n: &Node, what: &str, min: i128, max: i128) -> Option<i128> {
        match &n.value {
            Value::Int(i) if (min..=max).contains(i) => Some(*i),
            Value::Int(i) => {
                self.err(n, format!("{what} {i} is out of range {min}..={max}"));
                None
            }
            other => {
                self.err(
                    n,
                    format!("{what} must be a whole number, found {}", other.kind()),
                );
                None
            }
        }
    }

    fn boolean(&mut self, n: &Node, what: &str) -> Option<bool> {
        match &n.value {
            Value::Bool(b) => Some(*b),
            other => {
                self.err(
                    n,
                    format!("{what} must be true or false, found {}", other.kind()),
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
                        "{what} must be a duration such as 30s, found {}",
                        other.kind()
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
                self.err(n, format!("{what}: unknown placeholder `{ph}`; only {{host}} and {{service}} are expanded"));
                return None;
            }
            rest = &after[end..];
        }
        Some(s)
    }

    fn abs_path(&mut self, n: &Node, what: &str) -> Option<String> {
        let s = self.template(n, what)?;
        if !s.starts_with('/') {
            self.err(n, format!("{what} `{s}` must be an absolute path"));
            return None;
        }
        if s.chars().any(|c| c.is_control()) {
            self.err(n, format!("{what} contains control characters"));
            return None;
        }
        Some(s)
    }

    fn local_path(&mut self, n: &Node, what: &str) -> Option<PathBuf> {
        let s = self.string(n, what)?;
        Some(expand_home(&s))
    }
}

fn key_text(k: &Node) -> String {
    match &k.value {
        Value::Str(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        other => other.kind().to_string(),
    }
}

fn listing(names: &[&str]) -> String {
    if names.is_empty() {
        "none are defined".to_string()
    } else {
        names.join(", ")
    }
}

fn expand_home(s: &str) -> PathBuf {
    match (s.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
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
];

pub fn validate(file: &Path, root: &Node) -> Result<Config, Vec<Diagnostic>> {
    let mut v = V {
        file,
        diags: Vec::new(),
    };
    let Some(top) = v.fields(root, "the configuration", TOP) else {
        if root.value == Value::Null {
            v.err(
                root,
                "the configuration is empty; see config/lab.yaml for an example",
            );
        }
        return Err(v.diags);
    };

    let store = top
        .get("store")
        .map_or_else(default_store, |n| store(&mut v, n));
    let ssh = ssh(&mut v, top.get("ssh"));
    let environments = environments(&mut v, top.get("environments"));
    let hosts = hosts(&mut v, top.get("hosts"), &environments);
    let strategies = strategies(&mut v, top.get("strategies"));
    let services = services(&mut v, top.get("services"), &hosts, &strategies);
    let analysis = analysis(&mut v, top.get("analysis"));

    let hosts: BTreeMap<String, Host> = hosts
        .into_iter()
        .map(|(h, _)| (h.name.clone(), h))
        .collect();
    let services: BTreeMap<String, Service> =
        services.into_iter().map(|s| (s.name.clone(), s)).collect();
    if v.diags.is_empty() {
        Ok(Config {
            path: file.to_path_buf(),
            store,
            ssh,
            environments: environments
                .into_iter()
                .map(|(e, _)| (e.name.clone(), e))
                .collect(),
            hosts,
            services,
            strategies: strategies
                .into_iter()
                .map(|s| (s.name.clone(), s))
                .collect(),
            analysis,
        })
    } else {
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

fn store(v: &mut V, n: &Node) -> Store {
    let Some(f) = v.fields(n, "store", &["kind", "path", "url"]) else {
        return default_store();
    };
    let kind = v.opt(&f, "kind", "local".to_string(), |v, n| {
        v.string(n, "store.kind")
    });
    match kind.as_str() {
        "local" => {
            if let Some(u) = f.get("url") {
                v.err(u, "store.url belongs to kind: redis");
            }
            match f.get("path") {
                Some(p) => Store::Local {
                    path: v.local_path(p, "store.path").unwrap_or_default(),
                },
                None => default_store(),
            }
        }
        "redis" => {
            if let Some(p) = f.get("path") {
                v.err(p, "store.path belongs to kind: local");
            }
            let url = v
                .require(&f, "url", "a redis store")
                .and_then(|u| v.string(u, "store.url"))
                .unwrap_or_default();
            if !url.is_empty() && !url.starts_with("redis://") && !url.starts_with("rediss://") {
                if let Some(u) = f.get("url") {
                    v.err(
                        u,
                        format!("store.url `{url}` must start with redis:// or rediss://"),
                    );
                }
            }
            Store::Redis { url }
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

fn ssh(v: &mut V, n: Option<&Node>) -> Ssh {
    let mut s = Ssh {
        connect_timeout: Duration::from_secs(5),
        command_timeout: Duration::from_secs(60),
    };
    if let Some(f) = n.and_then(|n| v.fields(n, "ssh", &["connect_timeout", "command_timeout"])) {
        s.connect_timeout = v.opt(&f, "connect_timeout", s.connect_timeout, |v, n| {
            v.duration(n, "ssh.connect_timeout")
        });
        s.command_timeout = v.opt(&f, "command_timeout", s.command_timeout, |v, n| {
            v.duration(n, "ssh.command_timeout")
        });
    }
    s
}

fn map_entries<'n>(v: &mut V, n: &'n Node, what: &str) -> Vec<(&'n Node, &'n Node)> {
    match &n.value {
        Value::Map(m) => m.iter().map(|(k, v)| (k, v)).collect(),
        Value::Null => Vec::new(),
        other => {
            v.err(
                n,
                format!("{what} must be a mapping of names, found {}", other.kind()),
            );
            Vec::new()
        }
    }
}

fn environments(v: &mut V, n: Option<&Node>) -> Vec<(Environment, Node)> {
    let Some(n) = n else { return Vec::new() };
    let mut out = Vec::new();
    for (k, body) in map_entries(v, n, "environments") {
        let Some(name) = v.name(k, "environment name") else {
            continue;
        };
        let what = format!("environment {name}");
        let Some(f) = v.fields(
            body,
            &what,
            &["approval", "approvers", "four_eyes", "theme"],
        ) else {
            continue;
        };
        let approval = match f
            .get("approval")
            .and_then(|a| v.string(a, "approval").map(|s| (s, a)))
        {
            None => Approval::None,
            Some((s, _)) if s == "none" => Approval::None,
            Some((s, _)) if s == "required" => Approval::Required,
            Some((s, a)) => {
                v.err(
                    a,
                    format!("approval `{s}` is unknown; use none or required"),
                );
                Approval::None
            }
        };
        let approvers = f
            .get("approvers")
            .map(|a| v.names(a, "approver").into_iter().map(|x| x.0).collect())
            .unwrap_or_default();
        let four_eyes = v.opt(&f, "four_eyes", false, |v, n| v.boolean(n, "four_eyes"));
        let theme = f.get("theme").and_then(|t| v.name(t, "theme"));
        out.push((
            Environment {
                name,
                approval,
                approvers,
                four_eyes,
                theme,
            },
            k.clone(),
        ));
    }
    out
}
