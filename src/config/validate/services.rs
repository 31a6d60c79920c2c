//! The `services` map, and the checks that need every service (ports, cycles).

use super::*;

/// A track as far as it is valid: port and project are checked against other tracks even
/// when something else in the track is wrong.
pub(super) struct TrackParts {
    label: &'static str,
    project: Option<(String, Node)>,
    port: Option<(Port, Node)>,
    track: Option<Track>,
}

fn track(v: &mut V, tracks: &Fields, key: &'static str, what: &str) -> Option<TrackParts> {
    v.require(tracks, key, what)?;
    let what = format!("the {key} track of {what}");
    let f = v.section(
        tracks,
        key,
        &what,
        &["project", "compose_file", "env_file", "port"],
    )?;
    let project = v
        .require(&f, "project", &what)
        .and_then(|p| v.template(p, "project").map(|s| (s, p.clone())));
    let compose_file = v
        .require(&f, "compose_file", &what)
        .and_then(|p| v.abs_path(p, "compose_file"));
    let env_file = f.get("env_file").and_then(|p| v.abs_path(p, "env_file"));
    let port = v.require(&f, "port", &what).and_then(|p| {
        if p.value == Value::Str("auto".into()) {
            return Some((Port::Auto, p.clone()));
        }
        v.int(p, "port", 1, 65535)
            .map(|x| (Port::Fixed(x as u16), p.clone()))
    });
    let track = match (&project, compose_file, &port) {
        (Some((project, _)), Some(compose_file), Some((port, _))) => Some(Track {
            project: project.clone(),
            compose_file,
            env_file,
            port: *port,
        }),
        _ => None,
    };
    Some(TrackParts {
        label: key,
        project,
        port,
        track,
    })
}

/// A name that may hold `{host}`/`{service}`: valid once expanded for each of the hosts.
fn check_expanded(
    v: &mut V,
    node: &Node,
    template: &str,
    service: &str,
    hosts: &[String],
    what: &str,
) {
    if !template.contains('{') {
        if !is_name(template) {
            v.err(
                node,
                format!("{what} `{template}` is not a valid name; {NAME_RULE}"),
            );
        }
        return;
    }
    for h in hosts {
        let name = template.replace("{host}", h).replace("{service}", service);
        if !is_name(&name) {
            v.err(
                node,
                format!(
                    "{what} `{name}` (`{template}` on host {h}) is not a valid name; {NAME_RULE}"
                ),
            );
            // One message per template is enough.
            return;
        }
    }
}

fn image(v: &mut V, i: &Node) -> Option<String> {
    let s = v.string(i, "image")?;
    let ok = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | ':'))
        && !s.starts_with(['-', '.', '/', ':']);
    if !ok {
        v.err(
            i,
            format!("image `{s}` is not a valid image name (such as registry.example.com/team/api, without the tag)"),
        );
        return None;
    }
    Some(s)
}

fn nginx(v: &mut V, f: &Fields, what: &str) -> Option<(Nginx, Node)> {
    v.require(f, "nginx", what)?;
    let what = format!("nginx of {what}");
    let nf = v.section(
        f,
        "nginx",
        &what,
        &["upstream_file", "upstream", "test", "reload", "access_log"],
    )?;
    let upstream_file = v
        .require(&nf, "upstream_file", &what)
        .and_then(|x| v.abs_path(x, "upstream_file"));
    let upstream_node = v.require(&nf, "upstream", &what);
    let upstream = upstream_node.and_then(|x| v.template(x, "upstream"));
    let test = v.opt(&nf, "test", "nginx -t".to_string(), |v, x| {
        nonempty(v, x, "nginx.test")
    });
    let reload = v.opt(&nf, "reload", "nginx -s reload".to_string(), |v, x| {
        nonempty(v, x, "nginx.reload")
    });
    let access_log = nf
        .get("access_log")
        .and_then(|x| v.abs_path(x, "access_log"));
    Some((
        Nginx {
            upstream_file: upstream_file?,
            access_log,
            upstream: upstream?,
            test,
            reload,
        },
        upstream_node?.clone(),
    ))
}

/// A command: a template that is not blank.
fn nonempty(v: &mut V, n: &Node, what: &str) -> Option<String> {
    let s = v.template(n, what)?;
    if s.trim().is_empty() {
        v.err(n, format!("{what} is empty; it is the command sluice runs"));
        return None;
    }
    Some(s)
}

pub(super) fn services(
    v: &mut V,
    n: Option<&Node>,
    hosts: &[Host],
    strategies: &[Strategy],
    declared: &Declared,
) -> Vec<Service> {
    let Some(n) = n else { return Vec::new() };
    let entries = map_entries(v, n, "services", "api: { hosts: [web-1], … }");
    let mut out = Vec::new();
    let mut deps: Vec<(String, Vec<(String, Node)>)> = Vec::new();
    // (host, port) -> (service, track, line) of the first track to use it
    let mut ports: HashMap<(String, u16), (String, &str, u64)> = HashMap::new();
    for (k, body) in entries {
        // An invalid name is reported, and the body is still checked.
        let valid_name = v.name(k, "service name");
        let name = valid_name.clone().unwrap_or_else(|| key_text(k));
        let what = format!("service {name}");
        let Some(f) = v.fields_at(k, body, &what, SERVICE_KEYS) else {
            continue;
        };

        let host_list = v
            .require(&f, "hosts", &what)
            .map(|h| v.names(h, "host"))
            .unwrap_or_default();
        let mut service_hosts: Vec<String> = Vec::new();
        let mut env_of: Option<(String, String)> = None;
        for (h, node) in &host_list {
            if !declared.hosts.contains(h) {
                let msg = undefined("hosts", "host", h, &declared.hosts);
                v.err(node, msg);
                continue;
            }
            // Declared but invalid: reported at its definition.
            let Some(host) = hosts.iter().find(|x| &x.name == h) else {
                continue;
            };
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
        if let Some(hn) = f.get("hosts") {
            if matches!(&hn.value, Value::Seq(s) if s.is_empty()) {
                v.err(hn, format!("{what} has no hosts; list at least one"));
            }
        }
        let image = v.require(&f, "image", &what).and_then(|i| image(v, i));
        let nginx = nginx(v, &f, &what);
        let tracks: Vec<TrackParts> = match v.require(&f, "tracks", &what) {
            Some(_) => {
                let twhat = format!("tracks of {what}");
                match v.section(&f, "tracks", &twhat, &["stable", "canary"]) {
                    Some(tf) => ["stable", "canary"]
                        .into_iter()
                        .filter_map(|t| track(v, &tf, t, &what))
                        .collect(),
                    None => Vec::new(),
                }
            }
            None => Vec::new(),
        };
        let compose = v.opt(&f, "compose", "docker compose".to_string(), |v, c| {
            let s = v.string(c, "compose")?;
            if s == "docker compose" || s == "docker-compose" {
                Some(s)
            } else {
                v.err(c, format!("compose `{s}` is not supported; use \"docker compose\" or \"docker-compose\""));
                None
            }
        });
        let health = health(v, &f, &what);
        let depends_on: Vec<(String, Node)> = f
            .get("depends_on")
            .map(|d| v.names(d, "depends_on"))
            .unwrap_or_default();
        for (d, node) in &depends_on {
            if !declared.services.contains(d) {
                let msg = undefined("services", "depends_on", d, &declared.services);
                v.err(node, msg);
            }
        }
        let strategy = v.require(&f, "strategy", &what).and_then(|s| {
            let name = v.name(s, "strategy")?;
            if !declared.strategies.contains(&name) {
                let msg = undefined("strategies", "strategy", &name, &declared.strategies);
                v.err(s, msg);
                return None;
            }
            // Declared but broken: reported where it is defined.
            strategies.iter().any(|x| x.name == name).then_some(name)
        });
        let trickle = v.opt(&f, "trickle", 0, |v, t| {
            v.int(t, "trickle", 0, 5).map(|x| x as u32)
        });
        let warmup = super::checks::warmup(v, f.get("warmup"), &name);

        // Checks that need the whole service.
        if let Some((nginx, upstream_node)) = &nginx {
            check_expanded(
                v,
                upstream_node,
                &nginx.upstream,
                &name,
                &service_hosts,
                "upstream",
            );
        }
        let of = |label: &str| tracks.iter().find(|t| t.label == label);
        if let (Some((sp, sn)), Some((cp, cn))) = (
            of("stable").and_then(|t| t.port.as_ref()),
            of("canary").and_then(|t| t.port.as_ref()),
        ) {
            if sp == cp && *sp != Port::Auto {
                v.err(
                    cn,
                    format!(
                        "the canary track uses port {cp}, the same as the stable track (line {}); they run side by side",
                        sn.line
                    ),
                );
            }
        }
        for t in &tracks {
            if let Some((project, node)) = &t.project {
                check_expanded(v, node, project, &name, &service_hosts, "compose project");
            }
            let Some((port, node)) = &t.port else {
                continue;
            };
            let Port::Fixed(port) = port else {
                for h in &service_hosts {
                    match hosts.iter().find(|x| &x.name == h) {
                        Some(host) if host.ports.is_none() => v.err(
                            node,
                            format!(
                                "port: auto needs a port range on host {h}; add `ports: {{ range: 20000-20099 }}` to it, or give the {} track a fixed port",
                                t.label
                            ),
                        ),
                        _ => {}
                    }
                }
                continue;
            };
            for h in &service_hosts {
                if let Some(r) = hosts
                    .iter()
                    .find(|x| &x.name == h)
                    .and_then(|x| x.ports.as_ref())
                    .filter(|p| p.range.contains(*port))
                {
                    v.err(
                        node,
                        format!(
                            "port {port} is inside host {h}'s ports.range {}, where sluice hands out ports; choose a port outside it or `port: auto`",
                            r.range
                        ),
                    );
                }
                let key = (h.clone(), *port);
                match ports.get(&key) {
                    // The same service: stable == canary is reported above.
                    Some((other, _, _)) if *other == name => {}
                    Some((other, track, line)) => v.err(
                        node,
                        format!(
                            "port {port} on host {h} is already used by {other}.{track} (line {line})"
                        ),
                    ),
                    None => {
                        ports.insert(key, (name.clone(), t.label, node.line));
                    }
                }
            }
        }
        deps.push((name.clone(), depends_on.clone()));
        let complete = |label: &str| of(label).and_then(|t| t.track.clone());
        let (Some(_), Some(image), Some((nginx, _)), Some(stable), Some(canary), Some(strategy)) = (
            valid_name,
            image,
            nginx,
            complete("stable"),
            complete("canary"),
            strategy,
        ) else {
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
            warmup,
        });
    }
    cycles(v, &deps);
    out
}

/// Report each dependency cycle once, at the edge that closes it.
pub(super) fn cycles(v: &mut V, deps: &[(String, Vec<(String, Node)>)]) {
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

pub(super) fn health(v: &mut V, f: &Fields, what: &str) -> Health {
    let mut h = Health {
        path: "/health".into(),
        timeout: Duration::from_secs(2),
        retries: 3,
        interval: Duration::from_millis(500),
    };
    let Some(f) = v.section(
        f,
        "health",
        &format!("health of {what}"),
        &["path", "timeout", "retries", "interval"],
    ) else {
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
        positive(v, t, "health.timeout")
    });
    h.retries = v.opt(&f, "retries", h.retries, |v, t| {
        v.int(t, "health.retries", 0, 100).map(|x| x as u32)
    });
    h.interval = v.opt(&f, "interval", h.interval, |v, t| {
        v.duration(t, "health.interval")
    });
    h
}
