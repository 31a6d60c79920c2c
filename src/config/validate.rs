//! From a located YAML tree to the validated model, collecting every error on the way.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::diagnostic::Diagnostic;
use super::duration::parse_duration;
use super::model::*;
use super::node::{Node, Value};

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

fn is_address(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']' | '_'))
        && !s.starts_with('-')
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

fn hosts(v: &mut V, n: Option<&Node>, envs: &[(Environment, Node)]) -> Vec<(Host, Node)> {
    let Some(n) = n else { return Vec::new() };
    let Value::Seq(items) = &n.value else {
        v.err(
            n,
            format!("hosts must be a list of hosts, found {}", n.value.kind()),
        );
        return Vec::new();
    };
    let mut out: Vec<(Host, Node)> = Vec::new();
    for item in items {
        let Some(f) = v.fields(item, "a host", HOST_KEYS) else {
            continue;
        };
        let name = v
            .require(&f, "name", "a host")
            .and_then(|n| v.name(n, "host name"));
        let what = format!("host {}", name.as_deref().unwrap_or("?"));
        let address = v.require(&f, "address", &what).and_then(|n| {
            let s = v.string(n, "address")?;
            if is_address(&s) {
                Some(s)
            } else {
                v.err(n, format!("address `{s}` is not a host name or IP address"));
                None
            }
        });
        let port = v.opt(&f, "port", 22, |v, n| {
            v.int(n, "port", 1, 65535).map(|p| p as u16)
        });
        let user = v.opt(&f, "user", "root".to_string(), |v, n| {
            let s = v.string(n, "user")?;
            if s.is_empty()
                || !s
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
                || s.starts_with('-')
            {
                v.err(n, format!("user `{s}` is not a valid login name"));
                return None;
            }
            Some(s)
        });
        let identity_file = f
            .get("identity_file")
            .and_then(|n| v.local_path(n, "identity_file"));
        let known_hosts = f
            .get("known_hosts")
            .and_then(|n| v.local_path(n, "known_hosts"));
        let accept_new_host_key = v.opt(&f, "accept_new_host_key", false, |v, n| {
            v.boolean(n, "accept_new_host_key")
        });
        let backend_address = v.opt(&f, "backend_address", "127.0.0.1".to_string(), |v, n| {
            let s = v.string(n, "backend_address")?;
            if is_address(&s) {
                Some(s)
            } else {
                v.err(
                    n,
                    format!("backend_address `{s}` is not a host name or IP address"),
                );
                None
            }
        });
        let cloud = f.get("cloud").and_then(|n| v.name(n, "cloud"));
        let region = f.get("region").and_then(|n| v.name(n, "region"));
        let environment = v.require(&f, "environment", &what).and_then(|n| {
            let e = v.name(n, "environment")?;
            if envs.iter().any(|(x, _)| x.name == e) {
                Some(e)
            } else {
                let known: Vec<&str> = envs.iter().map(|(x, _)| x.name.as_str()).collect();
                v.err(
                    n,
                    format!(
                        "environment `{e}` is not defined; environments: {}",
                        listing(&known)
                    ),
                );
                None
            }
        });
        let forbidden = v.opt(&f, "forbidden", false, |v, n| v.boolean(n, "forbidden"));
        let (Some(name), Some(address), Some(environment)) = (name, address, environment) else {
            continue;
        };
        if let Some((_, first)) = out.iter().find(|(h, _)| h.name == name) {
            let line = first.line;
            let name_node = f.get("name").unwrap_or(item);
            v.err(
                name_node,
                format!("host `{name}` is defined twice (first on line {line})"),
            );
            continue;
        }
        out.push((
            Host {
                name,
                address,
                port,
                user,
                identity_file,
                known_hosts,
                accept_new_host_key,
                backend_address,
                cloud,
                region,
                environment,
                forbidden,
            },
            item.clone(),
        ));
    }
    out
}

fn strategies(v: &mut V, n: Option<&Node>) -> Vec<Strategy> {
    let Some(n) = n else { return Vec::new() };
    let mut out = Vec::new();
    for (k, body) in map_entries(v, n, "strategies") {
        let valid_name = v.name(k, "strategy name");
        let name = valid_name.clone().unwrap_or_else(|| key_text(k));
        let what = format!("strategy {name}");
        let Some(f) = v.fields(
            body,
            &what,
            &[
                "kind", "steps", "bake", "finally", "initial", "verify", "batch",
            ],
        ) else {
            continue;
        };
        let Some(kind_node) = v.require(&f, "kind", &what) else {
            continue;
        };
        let Some(kind) = v.string(kind_node, "kind") else {
            continue;
        };
        let allowed: &[&str] = match kind.as_str() {
            "canary" => &["kind", "steps", "bake", "finally"],
            "canary-manual" => &["kind", "initial"],
            "blue-green" => &["kind", "verify"],
            "rolling" => &["kind", "batch", "bake"],
            other => {
                v.err(kind_node, format!("kind `{other}` is unknown; use canary, canary-manual, blue-green or rolling"));
                continue;
            }
        };
        for (key, key_node, _) in &f.entries {
            if !allowed.contains(key) {
                v.err(
                    key_node,
                    format!(
                        "`{key}` does not apply to a {kind} strategy; its keys are: {}",
                        allowed.join(", ")
                    ),
                );
            }
        }
        let kind = match kind.as_str() {
            "canary" => {
                let steps = v
                    .require(&f, "steps", &what)
                    .map(|s| steps(v, s))
                    .unwrap_or_default();
                let bake = v
                    .require(&f, "bake", &what)
                    .and_then(|b| v.duration(b, "bake"))
                    .unwrap_or_default();
                let finally = match f
                    .get("finally")
                    .and_then(|n| v.string(n, "finally").map(|s| (s, n)))
                {
                    None => Finally::Pause,
                    Some((s, _)) if s == "pause" => Finally::Pause,
                    Some((s, _)) if s == "promote" => Finally::Promote,
                    Some((s, n)) => {
                        v.err(n, format!("finally `{s}` is unknown; use pause or promote"));
                        Finally::Pause
                    }
                };
                StrategyKind::Canary {
                    steps,
                    bake,
                    finally,
                }
            }
            "canary-manual" => StrategyKind::CanaryManual {
                initial: v.opt(&f, "initial", 10, |v, n| {
                    v.int(n, "initial weight", 0, 100).map(|x| x as u8)
                }),
            },
            "blue-green" => StrategyKind::BlueGreen {
                verify: v.opt(&f, "verify", Duration::from_secs(60), |v, n| {
                    v.duration(n, "verify")
                }),
            },
            _ => StrategyKind::Rolling {
                batch: v.opt(&f, "batch", 1, |v, n| {
                    v.int(n, "batch", 1, 10_000).map(|x| x as u32)
                }),
                bake: v.opt(&f, "bake", Duration::from_secs(20), |v, n| {
                    v.duration(n, "bake")
                }),
            },
        };
        if valid_name.is_some() {
            out.push(Strategy { name, kind });
        }
    }
    out
}

fn steps(v: &mut V, n: &Node) -> Vec<u8> {
    let Value::Seq(items) = &n.value else {
        v.err(
            n,
            format!(
                "steps must be a list of percentages such as [10, 40, 70], found {}",
                n.value.kind()
            ),
        );
        return Vec::new();
    };
    if items.is_empty() {
        v.err(
            n,
            "steps is empty; list at least one percentage, e.g. [10, 40, 70]",
        );
    }
    let mut out: Vec<u8> = Vec::new();
    for i in items {
        let Some(p) = v.int(i, "canary step (percent)", 1, 100) else {
            continue;
        };
        let p = p as u8;
        if let Some(prev) = out.last() {
            if p <= *prev {
                v.err(
                    i,
                    format!("canary steps must increase: {p} comes after {prev}"),
                );
                continue;
            }
        }
        out.push(p);
    }
    out
}

struct TrackNodes {
    project: Node,
    port: Node,
}

fn track(v: &mut V, n: &Node, what: &str) -> Option<(Track, TrackNodes)> {
    let f = v.fields(n, what, &["project", "compose_file", "env_file", "port"])?;
    let project_node = v.require(&f, "project", what);
    let project = project_node.and_then(|p| v.template(p, "project"));
    let compose_file = v
        .require(&f, "compose_file", what)
        .and_then(|p| v.abs_path(p, "compose_file"));
    let env_file = f.get("env_file").and_then(|p| v.abs_path(p, "env_file"));
    let port_node = v.require(&f, "port", what);
    let port = port_node.and_then(|p| v.int(p, "port", 1, 65535));
    Some((
        Track {
            project: project?,
            compose_file: compose_file?,
            env_file,
            port: port? as u16,
        },
        TrackNodes {
            project: project_node?.clone(),
            port: port_node?.clone(),
        },
    ))
}

fn services(
    v: &mut V,
    n: Option<&Node>,
    hosts: &[(Host, Node)],
    strategies: &[Strategy],
) -> Vec<Service> {
    let Some(n) = n else { return Vec::new() };
    let entries = map_entries(v, n, "services");
    let all_names: HashSet<String> = entries
        .iter()
        .filter_map(|(k, _)| match &k.value {
            Value::Str(s) => Some(s.clone()),
            _ => None,
        })
        .collect();
    let mut out = Vec::new();
    let mut deps: Vec<(String, Vec<(String, Node)>)> = Vec::new();
    // (host, port) -> (service.track, line)
    let mut ports: HashMap<(String, u16), String> = HashMap::new();
    for (k, body) in entries {
        // An invalid name is reported, and the body is still checked.
        let valid_name = v.name(k, "service name");
        let name = valid_name.clone().unwrap_or_else(|| key_text(k));
        let what = format!("service {name}");
        let Some(f) = v.fields(body, &what, SERVICE_KEYS) else {
            continue;
        };

        let host_list = v
            .require(&f, "hosts", &what)
            .map(|h| v.names(h, "host"))
            .unwrap_or_default();
        let mut service_hosts: Vec<String> = Vec::new();
        let mut env_of: Option<(String, String)> = None;
        for (h, _, node) in &host_list {
            match hosts.iter().find(|(x, _)| &x.name == h) {
                Some((host, _)) => {
                    match &env_of {
                        Some((first_host, env)) if *env != host.environment => v.err(
                            node,
                            format!(
                                "host {h} is in environment {}, but {first_host} is in {env}; a service's hosts must share one environment",
                                host.environment
                            ),
                        ),
                        None => env_of = Some((h.clone(), host.environment.clone())),
                        _ => {}
                    }
                    service_hosts.push(h.clone());
                }
                None => {
                    let known: Vec<&str> = hosts.iter().map(|(x, _)| x.name.as_str()).collect();
                    v.err(
                        node,
                        format!("host `{h}` is not defined; hosts: {}", listing(&known)),
                    );
                }
            }
        }
        if let Some(hn) = f.get("hosts") {
            if host_list.is_empty() && matches!(hn.value, Value::Seq(_)) {
                v.err(hn, format!("{what} has no hosts"));
            }
        }
        let image = v.require(&f, "image", &what).and_then(|i| {
            let s = v.string(i, "image")?;
            let ok = !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | ':'))
                && !s.starts_with(['-', '.', '/', ':']);
            if !ok {
                v.err(
                    i,
                    format!("image `{s}` is not a valid image name (without the tag)"),
                );
                return None;
            }
            Some(s)
        });
        let nginx = v.require(&f, "nginx", &what).and_then(|nn| {
            let nf = v.fields(
                nn,
                &format!("{what}.nginx"),
                &["upstream_file", "upstream", "test", "reload"],
            )?;
            let upstream_file = v
                .require(&nf, "upstream_file", "nginx")
                .and_then(|x| v.abs_path(x, "upstream_file"));
            let upstream = v
                .require(&nf, "upstream", "nginx")
                .and_then(|x| v.name(x, "upstream"));
            let test = v.opt(&nf, "test", "nginx -t".to_string(), |v, x| {
                v.template(x, "nginx.test")
            });
            let reload = v.opt(&nf, "reload", "nginx -s reload".to_string(), |v, x| {
                v.template(x, "nginx.reload")
            });
            Some(Nginx {
                upstream_file: upstream_file?,
                upstream: upstream?,
                test,
                reload,
            })
        });
        let tracks = v.require(&f, "tracks", &what).and_then(|t| {
            let tf = v.fields(t, &format!("{what}.tracks"), &["stable", "canary"])?;
            let stable = v
                .require(&tf, "stable", "tracks")
                .and_then(|s| track(v, s, "the stable track"));
            let canary = v
                .require(&tf, "canary", "tracks")
                .and_then(|s| track(v, s, "the canary track"));
            Some((stable?, canary?))
        });
        let compose = v.opt(&f, "compose", "docker compose".to_string(), |v, c| {
            let s = v.string(c, "compose")?;
            if s == "docker compose" || s == "docker-compose" {
                Some(s)
            } else {
                v.err(c, format!("compose `{s}` is not supported; use \"docker compose\" or \"docker-compose\""));
                None
            }
        });
        let health = health(v, f.get("health"), &what);
        let depends_on: Vec<(String, Node)> = f
            .get("depends_on")
            .map(|d| {
                v.names(d, "dependency")
                    .into_iter()
                    .map(|(s, _, n)| (s, n))
                    .collect()
            })
            .unwrap_or_default();
        for (d, node) in &depends_on {
            if !all_names.contains(d) {
                v.err(
                    node,
                    format!("depends_on `{d}` is not a service in this file"),
                );
            }
        }
        let strategy = v.require(&f, "strategy", &what).and_then(|s| {
            let name = v.name(s, "strategy")?;
            if strategies.iter().any(|x| x.name == name) {
                Some(name)
            } else {
                let known: Vec<&str> = strategies.iter().map(|x| x.name.as_str()).collect();
                v.err(
                    s,
                    format!(
                        "strategy `{name}` is not defined; strategies: {}",
                        listing(&known)
                    ),
                );
                None
            }
        });
        let trickle = v.opt(&f, "trickle", 0, |v, t| {
            v.int(t, "trickle", 0, 5).map(|x| x as u32)
        });

        // Checks that need the whole service.
        if let Some(((stable, sn), (canary, cn))) = &tracks {
            if stable.port == canary.port {
                v.err(
                    &cn.port,
                    format!(
                        "the canary track uses port {}, the same as the stable track",
                        canary.port
                    ),
                );
            }
            for h in &service_hosts {
                for (t, tn, label) in [(stable, sn, "stable"), (canary, cn, "canary")] {
                    let project = t.project.replace("{host}", h).replace("{service}", &name);
                    if !is_name(&project) {
                        v.err(&tn.project, format!("compose project `{project}` (on host {h}) is not a valid name; {NAME_RULE}"));
                    }
                    let key = (h.clone(), t.port);
                    let me = format!("{name}.{label}");
                    match ports.get(&key) {
                        Some(other) if *other != me && !other.starts_with(&format!("{name}.")) => v
                            .err(
                                &tn.port,
                                format!("port {} on host {h} is already used by {other}", t.port),
                            ),
                        Some(_) => {}
                        None => {
                            ports.insert(key, me);
                        }
                    }
                }
            }
        }
        deps.push((name.clone(), depends_on.clone()));
        let (Some(_), Some(image), Some(nginx), Some(((stable, _), (canary, _))), Some(strategy)) =
            (valid_name, image, nginx, tracks, strategy)
        else {
            continue;
        };
        if service_hosts.is_empty() {
            continue;
        }
        out.push(Service {
            name,
            hosts: service_hosts,
            image,
            nginx,
            stable,
            canary,
            compose,
            health,
            depends_on: depends_on.into_iter().map(|(d, _)| d).collect(),
            strategy,
            trickle,
        });
    }
    cycles(v, &deps);
    out
}

/// Report each dependency cycle once, at the edge that closes it.
fn cycles(v: &mut V, deps: &[(String, Vec<(String, Node)>)]) {
    let graph: HashMap<&str, &Vec<(String, Node)>> =
        deps.iter().map(|(s, d)| (s.as_str(), d)).collect();
    let mut reported: HashSet<Vec<String>> = HashSet::new();
    for (start, _) in deps {
        // Depth-first search for a path back to `start`.
        let mut stack: Vec<(String, Vec<String>)> = vec![(start.clone(), vec![start.clone()])];
        let mut seen: HashSet<String> = HashSet::new();
        while let Some((at, path)) = stack.pop() {
            let Some(edges) = graph.get(at.as_str()) else {
                continue;
            };
            for (next, node) in edges.iter() {
                if next == start {
                    let mut key = path.clone();
                    key.sort();
                    if reported.insert(key) {
                        let mut shown = path.clone();
                        shown.push(start.clone());
                        v.err(node, format!("dependency cycle: {}", shown.join(" → ")));
                    }
                } else if seen.insert(next.clone()) {
                    let mut p = path.clone();
                    p.push(next.clone());
                    stack.push((next.clone(), p));
                }
            }
        }
    }
}

fn health(v: &mut V, n: Option<&Node>, what: &str) -> Health {
    let mut h = Health {
        path: "/health".into(),
        timeout: Duration::from_secs(2),
        retries: 3,
        interval: Duration::from_millis(500),
    };
    let Some(f) = n.and_then(|n| {
        v.fields(
            n,
            &format!("{what}.health"),
            &["path", "timeout", "retries", "interval"],
        )
    }) else {
        return h;
    };
    h.path = v.opt(&f, "path", h.path, |v, p| {
        let s = v.string(p, "health.path")?;
        let ok = s.starts_with('/')
            && s.chars()
                .all(|c| c.is_ascii_graphic() && !matches!(c, '\'' | '"' | '`' | '\\'));
        if !ok {
            v.err(
                p,
                format!("health.path `{s}` must start with / and hold no spaces or quotes"),
            );
            return None;
        }
        Some(s)
    });
    h.timeout = v.opt(&f, "timeout", h.timeout, |v, t| {
        v.duration(t, "health.timeout")
    });
    h.retries = v.opt(&f, "retries", h.retries, |v, t| {
        v.int(t, "health.retries", 0, 100).map(|x| x as u32)
    });
    h.interval = v.opt(&f, "interval", h.interval, |v, t| {
        v.duration(t, "health.interval")
    });
    h
}

fn analysis(v: &mut V, n: Option<&Node>) -> Analysis {
    let mut a = Analysis {
        provider: Provider::NginxLog,
        interval: Duration::from_secs(10),
        window: Duration::from_secs(60),
        error_rate_max: 0.02,
        p99_max: Duration::from_secs(1),
        min_requests: 50,
        on_inconclusive: OnInconclusive::Pause,
    };
    let Some(f) = n.and_then(|n| {
        v.fields(
            n,
            "analysis",
            &[
                "provider",
                "interval",
                "window",
                "error_rate_max",
                "p99_max",
                "min_requests",
                "on_inconclusive",
            ],
        )
    }) else {
        return a;
    };
    if let Some(p) = f.get("provider") {
        match &p.value {
            Value::Str(s) if s == "nginx-log" => a.provider = Provider::NginxLog,
            Value::Map(_) => {
                if let Some(pf) = v.fields(p, "analysis.provider", &["prometheus"]) {
                    if let Some(prom) = v.require(&pf, "prometheus", "analysis.provider") {
                        if let Some(qf) = v.fields(prom, "prometheus", &["url"]) {
                            if let Some(url) = v
                                .require(&qf, "url", "prometheus")
                                .and_then(|u| v.string(u, "prometheus.url"))
                            {
                                a.provider = Provider::Prometheus { url };
                            }
                        }
                    }
                }
            }
            _ => v.err(
                p,
                "provider must be nginx-log or { prometheus: { url: … } }",
            ),
        }
    }
    a.interval = v.opt(&f, "interval", a.interval, |v, d| {
        let d2 = v.duration(d, "analysis.interval")?;
        if d2 < Duration::from_secs(1) {
            v.err(d, "analysis.interval must be at least 1s");
            return None;
        }
        Some(d2)
    });
    a.window = v.opt(&f, "window", a.window, |v, d| {
        v.duration(d, "analysis.window")
    });
    a.error_rate_max = v.opt(&f, "error_rate_max", a.error_rate_max, |v, e| {
        match &e.value {
            Value::Float(x) if (0.0..=1.0).contains(x) => Some(*x),
            Value::Int(0) => Some(0.0),
            Value::Int(1) => Some(1.0),
            _ => {
                v.err(
                    e,
                    "error_rate_max must be a fraction between 0 and 1 (0.02 = 2 %)",
                );
                None
            }
        }
    });
    a.p99_max = v.opt(&f, "p99_max", a.p99_max, |v, d| {
        v.duration(d, "analysis.p99_max")
    });
    a.min_requests = v.opt(&f, "min_requests", a.min_requests, |v, m| {
        v.int(m, "min_requests", 0, 1_000_000_000).map(|x| x as u64)
    });
    a.on_inconclusive = v.opt(&f, "on_inconclusive", a.on_inconclusive, |v, o| {
        match v.string(o, "on_inconclusive")?.as_str() {
            "pause" => Some(OnInconclusive::Pause),
            "rollback" => Some(OnInconclusive::Rollback),
            other => {
                v.err(
                    o,
                    format!("on_inconclusive `{other}` is unknown; use pause or rollback"),
                );
                None
            }
        }
    });
    a
}
