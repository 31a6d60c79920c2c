//! `sluice ports [--json]`: every host's port registry, read from the host (what `port: auto`
//! tracks hold, and what they last had), with how much of each range is left.

use std::process::ExitCode;

use futures::future::join_all;
use serde::Serialize;

use super::EXIT_FAILED;
use crate::engine::Ctx;
use crate::remote::host::registry_read_script;
use crate::remote::ports::{PortRecord, PortState, Registry};

#[derive(Debug, Serialize)]
struct RegistryReport {
    host: String,
    range: String,
    registry: String,
    /// Ports in the range.
    size: usize,
    /// Ports of the range nobody holds (listeners of other programs are not counted here).
    unheld: usize,
    records: Vec<PortRecord>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

pub async fn run(ctx: &Ctx, json: bool) -> ExitCode {
    let hosts: Vec<_> = ctx
        .config
        .hosts
        .values()
        .filter_map(|h| h.ports.as_ref().map(|p| (h, p)))
        .collect();
    let reads = join_all(hosts.iter().map(|(h, p)| async move {
        let script = registry_read_script(&p.registry);
        let registry = match ctx.remote.run(&h.name, script).await {
            Ok(out) => Registry::parse(&out.stdout)
                .map_err(|e| format!("{}: {e}; fix the file on the host", p.registry)),
            Err(e) => Err(e.to_string()),
        };
        let (records, error) = match registry {
            Ok(r) => (r.records, None),
            Err(e) => (Vec::new(), Some(e)),
        };
        let held = records
            .iter()
            .filter(|r| r.state == PortState::Held && p.range.contains(r.port))
            .count();
        RegistryReport {
            host: h.name.clone(),
            range: p.range.to_string(),
            registry: p.registry.clone(),
            size: p.range.len(),
            unheld: p.range.len().saturating_sub(held),
            records,
            error,
        }
    }))
    .await;
    let failed = reads.iter().any(|r| r.error.is_some());
    if json {
        match serde_json::to_string_pretty(&reads) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("sluice: {e}"),
        }
    } else if reads.is_empty() {
        println!("no host has `ports:` (a range for tracks with `port: auto`)");
    } else {
        println!(
            "{:<12}{:>6}  {:<16}{:<8}{:<6}",
            "HOST", "PORT", "SERVICE", "TRACK", "STATE"
        );
        for r in &reads {
            match &r.error {
                Some(e) => println!("{:<12}{:>6}  unreadable: {e}", r.host, "-"),
                None => {
                    for x in &r.records {
                        println!(
                            "{:<12}{:>6}  {:<16}{:<8}{:<6}",
                            r.host,
                            x.port,
                            x.service,
                            x.track.to_string(),
                            x.state.as_str()
                        );
                    }
                    println!(
                        "{:<12}{:>6}  range {}: {} of {} not held ({})",
                        r.host, "", r.range, r.unheld, r.size, r.registry
                    );
                }
            }
        }
    }
    if failed {
        ExitCode::from(EXIT_FAILED)
    } else {
        ExitCode::SUCCESS
    }
}
