//! The `services` map, and the checks that need every service (ports, cycles).

use super::*;

pub(super) struct TrackNodes {
    project: Node,
    port: Node,
}

pub(super) fn track(v: &mut V, n: &Node, what: &str) -> Option<(Track, TrackNodes)> {
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

pub(super) fn services(
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
                &["upstream_file", "upstream", "test", "reload", "access_log"],
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
            let access_log = nf
                .get("access_log")
                .and_then(|x| v.abs_path(x, "access_log"));
            Some(Nginx {
                upstream_file: upstream_file?,
                access_log,
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

pub(super) fn health(v: &mut V, n: Option<&Node>, what: &str) -> Health {
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
