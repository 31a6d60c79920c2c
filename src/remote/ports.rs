//! Ports allocated from a host's configured range, as pure functions over the host's port
//! registry file.
//!
//! A track with `port: auto` gets its port from its host's `ports.range` when its stack is
//! started, and gives it back when its stack is removed. The host keeps the registry (one file
//! per host, edited under an flock, so every sluice process that deploys there sees the same
//! allocations); each line is one (service, track):
//!
//! ```text
//! # PORT SERVICE TRACK STATE
//! 20000 shop stable held
//! 20001 shop canary free
//! ```
//!
//! `held`: the track's stack owns the port; no other track is given it. `free`: the stack was
//! removed and the port may go to anyone; the record stays because the service's upstream still
//! has the track's `server` line (marked `down`) at that port, and the next allocation for the
//! track moves that line to its new port. When the old port is still unclaimed, the track gets
//! it back and its line does not move.

use std::collections::BTreeSet;

use crate::remote::host::TrackName;

pub use crate::domain::ports::PortRange;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PortState {
    Held,
    Free,
}

impl PortState {
    /// As the registry file writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            PortState::Held => "held",
            PortState::Free => "free",
        }
    }
}

/// One line of the registry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PortRecord {
    pub port: u16,
    pub service: String,
    pub track: TrackName,
    pub state: PortState,
}

/// The registry file's records, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Registry {
    pub records: Vec<PortRecord>,
}

const HEADER: &str = "# sluice port registry: PORT SERVICE TRACK STATE (held | free). Edited by sluice under flock; see README \"Ports\".\n";

impl Registry {
    /// Parse the file's text (empty or missing: no records). Errors name the line.
    pub fn parse(text: &str) -> Result<Registry, String> {
        let mut records: Vec<PortRecord> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let at = |m: String| format!("line {}: {m}", i + 1);
            let f: Vec<&str> = line.split_whitespace().collect();
            let [port, service, track, state] = f[..] else {
                return Err(at(format!(
                    "`{line}` is not `PORT SERVICE TRACK STATE` (e.g. `20001 shop canary free`)"
                )));
            };
            let port: u16 = port
                .parse()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| at(format!("`{port}` is not a port")))?;
            let track = match track {
                "stable" => TrackName::Stable,
                "canary" => TrackName::Canary,
                _ => return Err(at(format!("track `{track}` is not stable or canary"))),
            };
            let state = match state {
                "held" => PortState::Held,
                "free" => PortState::Free,
                _ => return Err(at(format!("state `{state}` is not held or free"))),
            };
            if !crate::config::is_name(service) {
                return Err(at(format!("`{service}` is not a service name")));
            }
            if let Some(r) = records
                .iter()
                .find(|r| r.service == service && r.track == track)
            {
                return Err(at(format!(
                    "{service} {track} is recorded twice (also at port {}); keep one line",
                    r.port
                )));
            }
            if state == PortState::Held {
                if let Some(r) = records
                    .iter()
                    .find(|r| r.port == port && r.state == PortState::Held)
                {
                    return Err(at(format!(
                        "port {port} is held twice (also by {} {}); keep one",
                        r.service, r.track
                    )));
                }
            }
            records.push(PortRecord {
                port,
                service: service.to_string(),
                track,
                state,
            });
        }
        Ok(Registry { records })
    }

    pub fn render(&self) -> String {
        let mut s = HEADER.to_string();
        for r in &self.records {
            s.push_str(&format!(
                "{} {} {} {}\n",
                r.port,
                r.service,
                r.track,
                r.state.as_str()
            ));
        }
        s
    }

    pub fn get(&self, service: &str, track: TrackName) -> Option<&PortRecord> {
        self.records
            .iter()
            .find(|r| r.service == service && r.track == track)
    }

    fn held_by_other(&self, port: u16, service: &str, track: TrackName) -> bool {
        self.records.iter().any(|r| {
            r.port == port
                && r.state == PortState::Held
                && !(r.service == service && r.track == track)
        })
    }
}

/// The outcome of [`allocate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    pub registry: Registry,
    pub port: u16,
    /// Where the track's upstream line is now, when that differs from `port` (move it).
    pub moved_from: Option<u16>,
}

/// Give (service, track) a port: the one it holds; else the one it last had, when nobody holds
/// it and nothing listens there; else the lowest port of `range` that nobody holds and nothing
/// listens on (ports no other track's line points at first). A track with no record at all
/// cannot be placed: sluice would not know which `server` line of the upstream is its own.
pub fn allocate(
    registry: &Registry,
    range: PortRange,
    listening: &BTreeSet<u16>,
    service: &str,
    track: TrackName,
) -> Result<Allocation, String> {
    let Some(current) = registry.get(service, track) else {
        return Err(format!(
            "the port registry has no record for {service} {track}, so sluice cannot tell which \
             `server` line of the upstream is the {track}'s; add the line `PORT {service} {track} free` \
             to the registry, with PORT the port of that line"
        ));
    };
    if current.state == PortState::Held {
        return Ok(Allocation {
            registry: registry.clone(),
            port: current.port,
            moved_from: None,
        });
    }
    let usable = |p: u16| !registry.held_by_other(p, service, track) && !listening.contains(&p);
    let port = if range.contains(current.port) && usable(current.port) {
        current.port
    } else {
        let unrecorded = (range.start..=range.end)
            .find(|p| usable(*p) && !registry.records.iter().any(|r| r.port == *p));
        match unrecorded.or_else(|| (range.start..=range.end).find(|p| usable(*p))) {
            Some(p) => p,
            None => {
                let held = registry
                    .records
                    .iter()
                    .filter(|r| r.state == PortState::Held && range.contains(r.port))
                    .count();
                let others = range.len().saturating_sub(held);
                let others = if others > 0 {
                    format!(", {others} in use by other programs")
                } else {
                    String::new()
                };
                return Err(format!(
                    "no port of range {range} is free for {service} {track}: {held} held by sluice{others}; \
                     widen the host's ports.range or remove stacks that are no longer needed"
                ));
            }
        }
    };
    let mut next = registry.clone();
    for r in &mut next.records {
        if r.service == service && r.track == track {
            r.port = port;
            r.state = PortState::Held;
        }
    }
    Ok(Allocation {
        registry: next,
        port,
        moved_from: (port != current.port).then_some(current.port),
    })
}

/// Listening sockets that would take `addr:PORT` (the address itself, or a wildcard), each as
/// (the local address as `ss` prints it, its port), from `ss -Hltn` output
/// (`State Recv-Q Send-Q Local:Port Peer:Port …`).
pub fn listeners(ss: &str, addr: &str) -> Result<Vec<(String, u16)>, String> {
    let mut hits = Vec::new();
    for line in ss.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 5 {
            return Err(format!("unexpected `ss -Hltn` line: {line:?}"));
        }
        let local = f[3];
        let Some((host, p)) = local.rsplit_once(':') else {
            return Err(format!(
                "unexpected local address in `ss` output: {local:?}"
            ));
        };
        let Ok(p) = p.parse::<u16>() else {
            return Err(format!("unexpected port in `ss` output: {local:?}"));
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let host = host.split('%').next().unwrap_or(host); // 127.0.0.1%lo
        let host = host.strip_prefix("::ffff:").unwrap_or(host);
        if matches!(host, "*" | "0.0.0.0" | "::") || host == addr {
            hits.push((local.to_string(), p));
        }
    }
    Ok(hits)
}

/// The ports of [`listeners`].
pub fn listening_ports(ss: &str, addr: &str) -> Result<BTreeSet<u16>, String> {
    Ok(listeners(ss, addr)?.into_iter().map(|(_, p)| p).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The model of a release: the track's stack was removed, its port goes back to the range
    /// (its record stays, `free`). On hosts, `stop` does this in shell in the same script as
    /// `compose down` (`host/ports.rs`, `release_script`); the lab tests check it there.
    fn release(registry: &Registry, service: &str, track: TrackName) -> Registry {
        let mut next = registry.clone();
        for r in &mut next.records {
            if r.service == service && r.track == track {
                r.state = PortState::Free;
            }
        }
        next
    }

    fn reg(text: &str) -> Registry {
        Registry::parse(text).unwrap()
    }

    const R: PortRange = PortRange {
        start: 20000,
        end: 20003,
    };

    #[test]
    fn ranges() {
        assert_eq!(
            PortRange::parse("20000-20099"),
            Ok(PortRange {
                start: 20000,
                end: 20099
            })
        );
        for bad in ["", "20000", "a-b", "20-10", "0-5", "1-70000"] {
            assert!(PortRange::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn registry_round_trips_and_rejects_bad_lines() {
        let r = reg("# x\n20000 shop stable held\n\n20001 shop canary free\n");
        assert_eq!(Registry::parse(&r.render()), Ok(r.clone()));
        for (bad, says) in [
            ("20000 shop stable", "line 1"),
            ("x shop stable held", "not a port"),
            ("20000 shop blue held", "track `blue`"),
            ("20000 shop stable maybe", "state `maybe`"),
            ("20000 Shop; stable held", "not a service name"),
            ("20000 a stable held\n20001 a stable free", "recorded twice"),
            ("20000 a stable held\n20000 b stable held", "held twice"),
        ] {
            let e = Registry::parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn a_held_port_is_kept_and_a_free_one_taken_back() {
        let r = reg("20000 shop stable held\n20001 shop canary free\n");
        let a = allocate(&r, R, &BTreeSet::new(), "shop", TrackName::Stable).unwrap();
        assert_eq!((a.port, a.moved_from), (20000, None));
        let a = allocate(&r, R, &BTreeSet::new(), "shop", TrackName::Canary).unwrap();
        assert_eq!((a.port, a.moved_from), (20001, None));
        assert_eq!(
            a.registry.get("shop", TrackName::Canary).unwrap().state,
            PortState::Held
        );
    }

    #[test]
    fn a_port_taken_meanwhile_moves_the_track_to_the_lowest_unrecorded_port() {
        let r = reg("20000 shop stable held\n20001 shop canary free\n20001 cart canary held\n20002 cart stable free\n");
        let a = allocate(&r, R, &BTreeSet::new(), "shop", TrackName::Canary).unwrap();
        assert_eq!((a.port, a.moved_from), (20003, Some(20001)));
        // A stranger listening on 20003: the free record's port 20002 is used instead.
        let busy = BTreeSet::from([20003]);
        let a = allocate(&r, R, &busy, "shop", TrackName::Canary).unwrap();
        assert_eq!((a.port, a.moved_from), (20002, Some(20001)));
    }

    #[test]
    fn exhaustion_and_unknown_tracks_are_explained() {
        let r = reg(
            "20000 a stable held\n20001 a canary held\n20002 b stable held\n20003 c stable free\n",
        );
        let e = allocate(&r, R, &BTreeSet::from([20003]), "c", TrackName::Stable).unwrap_err();
        assert!(e.contains("no port of range 20000-20003"), "{e}");
        let e = allocate(&r, R, &BTreeSet::new(), "d", TrackName::Canary).unwrap_err();
        assert!(e.contains("`PORT d canary free`"), "{e}");
    }

    #[test]
    fn release_frees_only_that_track() {
        let r = reg("20000 shop stable held\n20001 shop canary held\n");
        let r2 = release(&r, "shop", TrackName::Canary);
        assert_eq!(
            r2.get("shop", TrackName::Canary).unwrap().state,
            PortState::Free
        );
        assert_eq!(
            r2.get("shop", TrackName::Stable).unwrap().state,
            PortState::Held
        );
    }

    #[test]
    fn listeners_by_address() {
        let ss = "LISTEN 0 511 127.0.0.11:8080 0.0.0.0:*\nLISTEN 0 4096 *:20002 *:*\nLISTEN 0 5 127.0.0.12:20001 0.0.0.0:*\nLISTEN 0 5 [::ffff:127.0.0.11]:20003 [::]:*\n";
        assert_eq!(
            listening_ports(ss, "127.0.0.11").unwrap(),
            BTreeSet::from([8080, 20002, 20003])
        );
        assert!(listening_ports("garbage", "x").is_err());
    }

    fn arb_op() -> impl Strategy<Value = (bool, u8, bool, u16)> {
        (any::<bool>(), 0u8..4, any::<bool>(), 0u16..8)
    }

    proptest! {
        /// Whatever sequence of starts and removals, and whatever strangers listen: no port is
        /// ever held twice, every held port is in range and was not listening when handed
        /// out, and the registry always reads back as written.
        #[test]
        fn never_handed_out_twice(ops in proptest::collection::vec(arb_op(), 0..60)) {
            let range = PortRange { start: 30000, end: 30005 };
            let services = ["a", "b", "c", "d"];
            let mut r = Registry::default();
            for s in services {
                for (i, t) in [TrackName::Stable, TrackName::Canary].into_iter().enumerate() {
                    r.records.push(PortRecord { port: 30000 + (i as u16), service: s.into(), track: t, state: PortState::Free });
                }
            }
            for (up, s, canary, stranger) in ops {
                let s = services[s as usize];
                let t = if canary { TrackName::Canary } else { TrackName::Stable };
                if up {
                    let listening = BTreeSet::from([30000 + stranger]);
                    let was_held = r.get(s, t).map(|x| x.state == PortState::Held).unwrap_or(false);
                    match allocate(&r, range, &listening, s, t) {
                        Ok(a) => {
                            prop_assert!(range.contains(a.port));
                            if !was_held { prop_assert!(!listening.contains(&a.port)); }
                            r = a.registry;
                        }
                        Err(e) => prop_assert!(e.contains("no port of range"), "{}", e),
                    }
                } else {
                    r = release(&r, s, t);
                }
                let held: Vec<u16> = r.records.iter().filter(|x| x.state == PortState::Held).map(|x| x.port).collect();
                let unique: BTreeSet<u16> = held.iter().copied().collect();
                prop_assert_eq!(held.len(), unique.len());
                prop_assert_eq!(Registry::parse(&r.render()), Ok(r.clone()));
            }
        }
    }
}
