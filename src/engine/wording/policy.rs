//! How policy events read to a person: one line each, for the CLI and the console's events.

use crate::policy::{Factor, Level, Refusal};

pub fn risk(score: u8, level: Level, factors: &[Factor], mitigations: &[String]) -> String {
    let parts: Vec<String> = factors
        .iter()
        .filter(|f| f.points > 0)
        .map(|f| format!("{} +{} ({})", f.name, f.points, f.detail))
        .collect();
    let mut s = format!("risk {score}/100 {level}");
    if !parts.is_empty() {
        s.push_str(&format!(": {}", parts.join("; ")));
    }
    if !mitigations.is_empty() {
        s.push_str(&format!(" — consider: {}", mitigations.join("; ")));
    }
    s
}

pub fn refused(refusals: &[Refusal], hint: &str) -> String {
    format!(
        "REFUSED by policy: {}. To deploy anyway, give a reason (recorded for the audit): {hint}",
        refusals
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" · ")
    )
}

pub fn overridden(operator: &str, reason: &str, rules: &[Refusal]) -> String {
    format!(
        "POLICY OVERRIDDEN by {operator} (reason: {reason}): {}",
        rules
            .iter()
            .map(|r| format!("[{}] {}", r.rule, r.reason))
            .collect::<Vec<_>>()
            .join(" · ")
    )
}
