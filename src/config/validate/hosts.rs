//! The `hosts` list.

use super::*;

pub(super) fn is_address(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']' | '_'))
        && !s.starts_with('-')
}

pub(super) fn hosts(
    v: &mut V,
    n: Option<&Node>,
    envs: &[(Environment, Node)],
) -> Vec<(Host, Node)> {
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
