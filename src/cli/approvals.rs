//! `sluice approvals`, `sluice approve ID`, `sluice reject ID --reason R`: deciding what waits
//! in the store. The waiting deployment (this or another process) sees the decision within a
//! second.

use std::process::ExitCode;

use super::{EXIT_FAILED, EXIT_REFUSED, EXIT_USAGE};
use crate::config::Config;
use crate::domain::approval::ApprovalDecision;
use crate::engine::approval::{decide, DecideRefused};
use crate::store::{Approval, DecideError, Store};

fn open(config: &Config) -> Option<Store> {
    Store::for_config(config)
        .map_err(|e| eprintln!("sluice: {e}"))
        .ok()
}

/// One line for a pending approval.
pub fn line(a: &Approval) -> String {
    format!(
        "#{:<4} {:<12} {:<20} {:<11} asked by {:<10} at {}  expires {}{}",
        a.id,
        a.service,
        a.stage,
        a.environment,
        a.requested_by,
        a.requested_at.format("%Y-%m-%d %H:%M:%S"),
        a.expires_at.format("%Y-%m-%d %H:%M:%S UTC"),
        match (a.risk_score, &a.risk_level) {
            (Some(s), Some(l)) => format!("  risk {s} {l}"),
            _ => String::new(),
        }
    )
}

pub fn list(config: &Config, json: bool) -> ExitCode {
    let Some(store) = open(config) else {
        return ExitCode::from(EXIT_FAILED);
    };
    let pending = match store.pending_approvals() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("sluice: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    if json {
        return match serde_json::to_string_pretty(&pending) {
            Ok(t) => {
                println!("{t}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("sluice: {e}");
                ExitCode::from(EXIT_FAILED)
            }
        };
    }
    if pending.is_empty() {
        println!("no pending approvals");
    }
    for a in &pending {
        println!("{}", line(a));
    }
    ExitCode::SUCCESS
}

pub fn run(
    config: &Config,
    id: &str,
    decision: ApprovalDecision,
    reason: Option<&str>,
    operator: &str,
) -> ExitCode {
    let Ok(id) = id.trim_start_matches('#').parse::<u64>() else {
        eprintln!("sluice: `{id}` is not an approval id; `sluice approvals` lists them");
        return ExitCode::from(EXIT_USAGE);
    };
    let Some(store) = open(config) else {
        return ExitCode::from(EXIT_FAILED);
    };
    match decide(config, &store, id, decision, operator, reason) {
        Ok(a) => {
            println!(
                "approval #{id} {decision} by {operator}: {} {} in {} {}",
                a.service,
                a.stage,
                a.environment,
                match decision {
                    ApprovalDecision::Approved => "proceeds",
                    _ => "ends with its traffic untouched",
                }
            );
            ExitCode::SUCCESS
        }
        Err(e @ DecideRefused::NoReason) => {
            eprintln!("sluice: {e}");
            ExitCode::from(EXIT_USAGE)
        }
        Err(e @ DecideRefused::Decide(DecideError::Unknown(_))) => {
            eprintln!("sluice: {e}");
            ExitCode::from(EXIT_USAGE)
        }
        Err(e @ DecideRefused::NotAllowed(..)) => {
            eprintln!("sluice: {e}");
            ExitCode::from(EXIT_REFUSED)
        }
        Err(e) => {
            eprintln!("sluice: {e}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}
