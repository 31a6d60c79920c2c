//! How events read to a person: one line per event, for the headless CLI and the console's
//! events pane (one wording, beside `Event`).

use crate::domain::weight_label;
mod policy;

use super::{Event, EventKind};

/// One line for an event, for the headless CLI and the console's events pane.
pub fn human(e: &Event) -> String {
    let t = e.at.format("%H:%M:%S");
    let s = &e.service;
    let body = match &e.kind {
        EventKind::DeployStarted {
            version,
            strategy,
            operator,
            hosts,
            steps,
        } => {
            let steps = if steps.is_empty() {
                String::new()
            } else {
                format!(
                    " (steps {} %)",
                    steps
                        .iter()
                        .map(u8::to_string)
                        .collect::<Vec<_>>()
                        .join(" → ")
                )
            };
            format!(
                "{operator} deploys {version} with {strategy}{steps} to {}",
                hosts.join(", ")
            )
        }
        EventKind::State { from, to } => format!("{from} → {to}"),
        EventKind::ApprovalRequested {
            id,
            stage,
            environment,
            requested_by,
            expires_at,
            risk,
        } => format!(
            "approval #{id} needed before the {stage} ({environment}, asked by {requested_by}{}), \
             expires {}: `sluice approve {id}` or `sluice reject {id} --reason R`",
            risk.as_deref().map(|r| format!(", risk {r}")).unwrap_or_default(),
            expires_at.format("%Y-%m-%d %H:%M:%S UTC")
        ),
        EventKind::ApprovalDecided {
            id,
            decision,
            by,
            reason,
        } => format!(
            "approval #{id} {decision} by {by}{}",
            reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default()
        ),
        EventKind::HostObserved {
            host,
            stable_weight,
            canary_weight,
            canary_percent,
            stable,
            canary,
            ..
        } => format!(
            "{host}: weights stable={} canary={} ({} canary); stable {} , canary {}",
            weight_label(*stable_weight),
            weight_label(*canary_weight),
            canary_percent.map_or("no traffic".to_string(), |p| format!("{p} %")),
            stack(stable),
            stack(canary)
        ),
        EventKind::StackStarted {
            host,
            track,
            version,
        } => format!("{host}: {track} stack started at {version}"),
        EventKind::StackStopped { host, track } => format!("{host}: {track} stack stopped"),
        EventKind::HealthOk { host, track } => format!("{host}: {track} healthy"),
        EventKind::WeightsVerified {
            host,
            stable_weight,
            canary_weight,
            canary_percent,
        } => format!(
            "{host}: verified stable={} canary={} → {canary_percent} % canary",
            weight_label(*stable_weight),
            weight_label(*canary_weight)
        ),
        EventKind::StepStarted {
            step,
            of,
            canary_percent,
        } => format!("step {step}/{of}: moving {canary_percent} % of traffic to the canary"),
        EventKind::StepReached {
            step,
            of,
            canary_percent,
            bake_until,
        } => match bake_until {
            Some(u) => format!(
                "step {step}/{of}: every host at {canary_percent} % canary; baking until {}",
                u.format("%H:%M:%S")
            ),
            None => format!("step {step}/{of}: every host at {canary_percent} % canary"),
        },
        EventKind::WeightSet { canary_percent } => {
            format!("canary set by hand to {canary_percent} % on every host")
        }
        EventKind::VerifyStarted { hosts, until } => format!(
            "green healthy beside blue on {}; verifying{} (no traffic yet)",
            hosts.join(", "),
            until.map_or(String::new(), |u| format!(" until {}", u.format("%H:%M:%S")))
        ),
        EventKind::TrafficSwitched { hosts, keep_until } => format!(
            "switched: every host verified with all traffic on green ({}); blue kept{} for an instant rollback",
            hosts.join(", "),
            keep_until.map_or(String::new(), |u| format!(" until {}", u.format("%H:%M:%S")))
        ),
        EventKind::BatchStarted { batch, of, hosts } => {
            format!("batch {batch}/{of}: starting the new version on {}", hosts.join(", "))
        }
        EventKind::BatchReached {
            batch,
            of,
            hosts,
            bake_until,
        } => format!(
            "batch {batch}/{of}: {} on the new version at 100 %{}",
            hosts.join(", "),
            bake_until.map_or(String::new(), |u| format!("; baking until {}", u.format("%H:%M:%S")))
        ),
        EventKind::AwaitingDecision { canary_percent } => format!(
            "paused at {canary_percent} % canary, waiting for a decision: promote or roll back"
        ),
        EventKind::Analysis {
            track,
            summary,
            window_secs,
            provider,
            ..
        } => {
            format!("{track} over {window_secs}s ({provider}): {summary}")
        }
        EventKind::HostFailed { host, error } => format!("{host}: FAILED: {error}"),
        EventKind::ContainerLogs { host, track, lines } => format!(
            "{host}: the {track} stack's last container log lines (shown here only, never recorded):{}",
            lines
                .iter()
                .map(|l| format!("\n    | {l}"))
                .collect::<String>()
        ),
        EventKind::RollbackStarted { reason } => format!("ROLLBACK: {reason}"),
        EventKind::TrafficOnStable { hosts } => {
            format!("every host verified at stable 100 % ({})", hosts.join(", "))
        }
        EventKind::RolledBack { reason } => format!("rolled back ({reason}); canary stopped"),
        EventKind::Promoted { version } => format!("promoted: {version} is the new stable"),
        EventKind::Watching {
            version,
            until,
            provider,
        } => format!(
            "watching the new stable {version} ({provider}){}",
            until.map_or(String::new(), |u| format!(
                " until {}",
                u.format("%H:%M:%S")
            ))
        ),
        EventKind::WatchPassed { version, passes } => {
            format!("watch passed: {version} stays stable ({passes} passing judgements)")
        }
        EventKind::WatchInconclusive { version, reason } => {
            format!("watch of {version} was not conclusive: {reason}")
        }
        EventKind::WatchFailed {
            version,
            previous,
            reason,
        } => format!(
            "WATCH FAILED: {version}: {reason}; back to {}",
            previous
                .as_deref()
                .unwrap_or("the previous version (unknown)")
        ),
        EventKind::Failed { error } => format!("FAILED: {error}"),
        EventKind::Info { message } => message.clone(),
        EventKind::Risk {
            score,
            level,
            factors,
            mitigations,
        } => policy::risk(*score, *level, factors, mitigations),
        EventKind::PolicyRefused {
            refusals,
            override_hint,
            ..
        } => policy::refused(refusals, override_hint),
        EventKind::PolicyOverridden {
            operator,
            reason,
            rules,
        } => policy::overridden(operator, reason, rules),
        EventKind::WarmUp {
            host,
            requests,
            errors,
            p50_ms,
            p99_ms,
            passed,
            ..
        } => format!(
            "{host}: canary warm-up {}: {requests} requests, {errors} errors, P50 {p50_ms:.0} ms, P99 {p99_ms:.0} ms",
            if *passed { "ok" } else { "FAILED" }
        ),
    };
    // Events carry text from hosts (errors, container logs): nothing in it may reach the
    // terminal as a control sequence.
    crate::sanitize::text(&format!("{t} {s}: {body}"))
}

fn stack(s: &crate::domain::StackState) -> String {
    match &s.version {
        Some(v) => format!("{v} ({})", s.status),
        None => "absent".to_string(),
    }
}
