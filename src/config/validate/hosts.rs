//! The `hosts` list.

use std::net::{IpAddr, Ipv6Addr};

use super::*;

/// A plausible place to connect to: an IPv4/IPv6 address (IPv6 optionally in brackets) or a
/// DNS name (labels of letters, digits, `-` and `_`, not starting or ending with `-`). Nothing
/// that a shell would interpret.
pub(super) fn is_address(s: &str) -> bool {
    if s.parse::<IpAddr>().is_ok() {
        return true;
    }
    if let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        return inner.parse::<Ipv6Addr>().is_ok();
    }
    let name = s.strip_suffix('.').unwrap_or(s);
    let labels: Vec<&str> = name.split('.').collect();
    // All-numeric labels look like a mistyped IPv4 address, not a name.
    if labels.iter().all(|l| l.bytes().all(|b| b.is_ascii_digit())) {
        return false;
    }
    !name.is_empty()
        && name.len() <= 253
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

fn check_address(v: &mut V, n: &Node, what: &str) -> Option<String> {
    let s = v.string(n, what)?;
    if is_address(&s) {
        Some(s)
    } else {
        v.err(
            n,
            format!("{what} `{s}` is not a host name or IP address (such as web-1.example.com or 10.0.1.11)"),
        );
        None
    }
}

/// `ports: { range: 20000-20099, registry: /var/lib/sluice/ports }`.
fn host_ports(v: &mut V, f: &Fields, what: &str) -> Option<HostPorts> {
    let what = format!("the ports of {what}");
    let p = v.section(f, "ports", &what, &["range", "registry"])?;
    let range = v.require(&p, "range", &what).and_then(|n| {
        let s = match &n.value {
            Value::Str(s) => s.clone(),
            _ => {
                v.err(n, "ports.range must be START-END, such as 20000-20099");
                return None;
            }
        };
        match crate::domain::ports::PortRange::parse(&s) {
            Ok(r) => Some(r),
            Err(e) => {
                v.err(n, format!("ports.range: {e}"));
                None
            }
        }
    })?;
    let registry = match p.get("registry") {
        Some(n) => {
            let s = v.abs_path(n, "ports.registry")?;
            if s.contains('{') {
                v.err(
                    n,
                    "ports.registry is a path on this host; it takes no placeholders",
                );
                return None;
            }
            s
        }
        None => DEFAULT_PORT_REGISTRY.to_string(),
    };
    Some(HostPorts { range, registry })
}

pub(super) fn hosts(
    v: &mut V,
    n: Option<&Node>,
    envs: &[Environment],
    declared: &Declared,
) -> Vec<Host> {
    let Some(n) = n else { return Vec::new() };
    let items: &[Node] = match &n.value {
        Value::Seq(items) => items,
        Value::Null => &[],
        other => {
            v.err(
                n,
                format!(
                    "hosts must be a list of hosts (`- {{ name: web-1, address: 10.0.1.11, environment: staging }}`), found {}",
                    other.found()
                ),
            );
            return Vec::new();
        }
    };
    let mut out: Vec<Host> = Vec::new();
    // Every name seen so far, with its line, whether or not that host is otherwise valid.
    let mut seen: Vec<(String, u64)> = Vec::new();
    for item in items {
        if item.value == Value::Null {
            v.err(
                item,
                "empty host entry; a host needs at least name, address and environment",
            );
            continue;
        }
        // Name the host in messages about its other keys, even before its name is checked.
        let label = match &item.value {
            Value::Map(m) => m
                .iter()
                .find(|(k, _)| k.value == Value::Str("name".into()))
                .map(|(_, n)| format!("host {}", key_text(n))),
            _ => None,
        };
        let label = label.unwrap_or_else(|| "a host".to_string());
        let Some(f) = v.fields(item, &label, HOST_KEYS) else {
            continue;
        };
        let name = v
            .require(&f, "name", "a host")
            .and_then(|n| v.name(n, "host name"));
        let mut duplicate = false;
        if let (Some(name), Some(node)) = (&name, f.get("name")) {
            if let Some((_, line)) = seen.iter().find(|(s, _)| s == name) {
                v.err(
                    node,
                    format!("host `{name}` is defined twice (first on line {line}); host names must be unique"),
                );
                duplicate = true;
            } else {
                seen.push((name.clone(), node.line));
            }
        }
        let what = label;
        let address = v
            .require(&f, "address", &what)
            .and_then(|n| check_address(v, n, "address"));
        let port = v.opt(&f, "port", 22, |v, n| {
            v.int(n, "port", 1, 65535).map(|p| p as u16)
        });
        let user = v.opt(&f, "user", "root".to_string(), |v, n| {
            let s = v.string(n, "user")?;
            if s.is_empty()
                || s.len() > 32
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
            check_address(v, n, "backend_address")
        });
        let cloud = f.get("cloud").and_then(|n| v.name(n, "cloud"));
        let region = f.get("region").and_then(|n| v.name(n, "region"));
        let environment = v.require(&f, "environment", &what).and_then(|n| {
            let e = v.name(n, "environment")?;
            if !declared.environments.contains(&e) {
                let msg = undefined("environments", "environment", &e, &declared.environments);
                v.err(n, msg);
                return None;
            }
            // Declared but broken: its own errors are reported where it is defined.
            envs.iter().any(|x| x.name == e).then_some(e)
        });
        let forbidden = v.opt(&f, "forbidden", false, |v, n| v.boolean(n, "forbidden"));
        let ports = match f.entry("ports") {
            Some(_) => host_ports(v, &f, &what),
            None => None,
        };
        let (Some(name), Some(address), Some(environment), false) =
            (name, address, environment, duplicate)
        else {
            continue;
        };
        out.push(Host {
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
            ports,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::is_address;

    #[test]
    fn addresses() {
        for ok in [
            "10.0.1.11",
            "127.0.0.1",
            "::1",
            "[fe80::1]",
            "web-1",
            "web-1.example.com",
            "web-1.example.com.",
            "ip-10-0-1-11.ec2.internal",
            "host_1",
        ] {
            assert!(is_address(ok), "{ok}");
        }
        for bad in [
            "",
            "10.0.0.2; rm -rf /",
            "10.0.0.256",
            "10.0.0",
            "web 1",
            "$(reboot)",
            "-oProxyCommand=x",
            "web..example.com",
            "a|b",
            "`x`",
            "web-",
            "[10.0.0.1]",
        ] {
            assert!(!is_address(bad), "{bad}");
        }
    }
}
