//! `sluice lock`, `sluice lock break`, `sluice history`, `sluice audit`: what the durable store
//! holds, for people and scripts.

use std::process::ExitCode;

use super::{EXIT_FAILED, EXIT_USAGE};
use crate::config::Config;
use crate::store::{NewAudit, Store};

fn open(config: &Config) -> Option<Store> {
    match Store::for_config(config) {
        Ok(s) => Some(s),
        Err(e) => {
            eprintln!("sluice: {e}");
            None
        }
    }
}

fn print_json<T: serde::Serialize>(v: &T) -> ExitCode {
    match serde_json::to_string_pretty(v) {
        Ok(t) => {
            println!("{t}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sluice: {e}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

pub fn locks(config: &Config, json: bool) -> ExitCode {
    let Some(store) = open(config) else {
        return ExitCode::from(EXIT_FAILED);
    };
    let leases = match store.leases() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("sluice: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    if json {
        let rows: Vec<_> = leases
            .iter()
            .map(|(l, live)| serde_json::json!({ "lease": l, "state": live }))
            .collect();
        return print_json(&rows);
    }
    if leases.is_empty() {
        println!("no leases: no sluice is acting on any service");
    }
    for (l, live) in &leases {
        println!(
            "{:<12} {:<12} token {:<6} {} ({:?})",
            l.service,
            match live {
                crate::store::Liveness::Live => "held",
                crate::store::Liveness::Expired => "expired",
                crate::store::Liveness::HolderDead => "holder-gone",
            },
            l.token,
            l.holder.describe(),
            l.acquired_at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
        );
    }
    ExitCode::SUCCESS
}

pub fn break_lock(config: &Config, service: &str, reason: &str, operator: &str) -> ExitCode {
    if !config.services.contains_key(service) {
        eprintln!(
            "sluice: unknown service `{service}`; services in {}: {}",
            config.path.display(),
            config
                .services
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        );
        return ExitCode::from(EXIT_USAGE);
    }
    let Some(store) = open(config) else {
        return ExitCode::from(EXIT_FAILED);
    };
    let broken = match store.break_lease(service) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("sluice: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let from = broken
        .as_ref()
        .map_or("no lease".to_string(), |l| l.describe());
    let audited = store.audit(&NewAudit {
        actor: operator.to_string(),
        action: "lease-break".into(),
        service: service.to_string(),
        from: from.clone(),
        to: "no lease".into(),
        result: "ok".into(),
        detail: reason.to_string(),
    });
    match (&broken, audited) {
        (_, Err(e)) => {
            eprintln!("sluice: the lease was broken but the audit trail could not be written: {e}");
            ExitCode::from(EXIT_FAILED)
        }
        (Some(l), Ok(_)) => {
            println!(
                "broke the lease on {service} held by {}; its token {} is now refused by every host once a newer holder acts",
                l.holder.describe(),
                l.token
            );
            ExitCode::SUCCESS
        }
        (None, Ok(_)) => {
            println!("no lease was held on {service}; recorded anyway");
            ExitCode::SUCCESS
        }
    }
}

pub fn history(config: &Config, service: Option<&str>, json: bool) -> ExitCode {
    let Some(store) = open(config) else {
        return ExitCode::from(EXIT_FAILED);
    };
    let list = match store.deployments(service, 200) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("sluice: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    if json {
        return print_json(&list);
    }
    println!(
        "{:>5}  {:<20} {:<12} {:<10} {:<10} {:<14} {:<12} {:<10} {:>6}",
        "ID",
        "STARTED",
        "SERVICE",
        "VERSION",
        "PREVIOUS",
        "STRATEGY",
        "STATE",
        "OPERATOR",
        "CANARY"
    );
    for d in &list {
        println!(
            "{:>5}  {:<20} {:<12} {:<10} {:<10} {:<14} {:<12} {:<10} {:>6}",
            d.id,
            d.started_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            d.service,
            d.version,
            d.previous.as_deref().unwrap_or("-"),
            d.strategy,
            d.state.as_str(),
            d.operator,
            d.canary_percent
                .map_or("-".to_string(), |p| format!("{p} %"))
        );
    }
    ExitCode::SUCCESS
}

pub fn audit(config: &Config, service: Option<&str>, json: bool, verify: bool) -> ExitCode {
    let Some(store) = open(config) else {
        return ExitCode::from(EXIT_FAILED);
    };
    if verify {
        return match store.verify_audit() {
            Ok(n) => {
                println!("audit trail intact: {n} record(s), chain and head verified");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!(
                    "sluice: audit trail in {} FAILED verification: {e}",
                    store.dir().display()
                );
                ExitCode::from(EXIT_FAILED)
            }
        };
    }
    let records = match store.audit_records(service) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sluice: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    if json {
        return print_json(&records);
    }
    for r in &records {
        println!(
            "#{:<5} {} {:<10} {:<15} {:<10} {} -> {} [{}] {}",
            r.seq,
            r.at.format("%Y-%m-%d %H:%M:%S"),
            r.actor,
            r.action,
            r.service,
            if r.from.is_empty() { "-" } else { &r.from },
            if r.to.is_empty() { "-" } else { &r.to },
            r.result,
            r.detail
        );
    }
    ExitCode::SUCCESS
}
