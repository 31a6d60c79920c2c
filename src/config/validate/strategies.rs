//! The `strategies` map.

use super::*;
use crate::domain::{BatchSize, Split};

pub(super) fn strategies(v: &mut V, n: Option<&Node>) -> Vec<Strategy> {
    let Some(n) = n else { return Vec::new() };
    let mut out = Vec::new();
    let example = "canary-auto: { kind: canary, steps: [10, 40, 70], bake: 30s }";
    for (k, body) in map_entries(v, n, "strategies", example) {
        let valid_name = v.name(k, "strategy name");
        let name = valid_name.clone().unwrap_or_else(|| key_text(k));
        let what = format!("strategy {name}");
        let Some(f) = v.fields_at(
            k,
            body,
            &what,
            &[
                "kind", "steps", "bake", "finally", "initial", "verify", "keep", "batch",
            ],
        ) else {
            continue;
        };
        let Some(kind_node) = v.require(&f, "kind", &what) else {
            continue;
        };
        let Some(kind) = v.string(kind_node, "kind") else {
            continue;
        };
        let allowed: &[&str] = match kind.as_str() {
            "canary" => &["kind", "steps", "bake", "finally"],
            "canary-manual" => &["kind", "initial"],
            "blue-green" => &["kind", "verify", "keep"],
            "rolling" => &["kind", "batch", "bake"],
            other => {
                let kinds = ["canary", "canary-manual", "blue-green", "rolling"];
                v.err(
                    kind_node,
                    format!(
                        "kind `{other}` is unknown{}; use canary, canary-manual, blue-green or rolling",
                        did_you_mean(other, &kinds)
                    ),
                );
                continue;
            }
        };
        for (key, key_node, _) in &f.entries {
            if !allowed.contains(key) {
                v.err(
                    key_node,
                    format!(
                        "`{key}` does not apply to a {kind} strategy{}; its keys are: {}",
                        did_you_mean(key, &allowed[1..]),
                        allowed.join(", ")
                    ),
                );
            }
        }
        let kind = match kind.as_str() {
            "canary" => {
                let steps = v
                    .require(&f, "steps", &what)
                    .map(|s| steps(v, s))
                    .unwrap_or_default();
                let bake = v
                    .require(&f, "bake", &what)
                    .and_then(|b| v.duration(b, "bake"))
                    .unwrap_or_default();
                let finally = match f
                    .get("finally")
                    .and_then(|n| v.string(n, "finally").map(|s| (s, n)))
                {
                    None => Finally::Pause,
                    Some((s, _)) if s == "pause" => Finally::Pause,
                    Some((s, _)) if s == "promote" => Finally::Promote,
                    Some((s, n)) => {
                        v.err(n, format!("finally `{s}` is unknown; use pause or promote"));
                        Finally::Pause
                    }
                };
                StrategyKind::Canary {
                    steps,
                    bake,
                    finally,
                }
            }
            "canary-manual" => StrategyKind::CanaryManual {
                initial: v.opt(&f, "initial", Split::TEN, |v, n| {
                    v.int(n, "initial weight", 0, 100)
                        .and_then(|x| u8::try_from(x).ok())
                        .and_then(Split::new)
                }),
            },
            "blue-green" => StrategyKind::BlueGreen {
                verify: v.opt(&f, "verify", Duration::from_secs(60), |v, n| {
                    v.duration(n, "verify")
                }),
                keep: v.opt(&f, "keep", Duration::from_secs(300), |v, n| {
                    v.duration(n, "keep")
                }),
            },
            _ => StrategyKind::Rolling {
                batch: v.opt(&f, "batch", BatchSize::Hosts(1), batch),
                bake: v.opt(&f, "bake", Duration::from_secs(20), |v, n| {
                    v.duration(n, "bake")
                }),
            },
        };
        if valid_name.is_some() {
            out.push(Strategy { name, kind });
        }
    }
    out
}

pub(super) fn steps(v: &mut V, n: &Node) -> Vec<Split> {
    let Value::Seq(items) = &n.value else {
        v.err(
            n,
            format!(
                "steps must be a list of percentages such as [10, 40, 70], found {}",
                n.value.found()
            ),
        );
        return Vec::new();
    };
    if items.is_empty() {
        v.err(
            n,
            "steps is empty; list at least one percentage, e.g. [10, 40, 70]",
        );
    }
    let mut out: Vec<Split> = Vec::new();
    for i in items {
        let Some(p) = v
            .int(i, "canary step (percent)", 1, 100)
            .and_then(|p| u8::try_from(p).ok())
            .and_then(Split::new)
        else {
            continue;
        };
        if let Some(prev) = out.last() {
            if p <= *prev {
                let (p, prev) = (p.canary_percent(), prev.canary_percent());
                v.err(
                    i,
                    format!("canary steps must increase: {p} comes after {prev}"),
                );
                continue;
            }
        }
        out.push(p);
    }
    out
}

/// `batch: 2` (hosts) or `batch: "25%"` (of the service's hosts, rounded up).
fn batch(v: &mut V, n: &Node) -> Option<BatchSize> {
    const FORMS: &str = "a number of hosts such as 1, or a percentage of them such as \"25%\"";
    match &n.value {
        Value::Int(_) => v
            .int(n, "batch", 1, 10_000)
            .map(|x| BatchSize::Hosts(x as u32)),
        Value::Str(s) => {
            let t = s.trim();
            let Some(p) = t.strip_suffix('%') else {
                let hint = match t.parse::<u64>() {
                    Ok(x) => format!("; write {x} (hosts) or \"{x}%\" (of the hosts)"),
                    Err(_) => format!("; write {FORMS}"),
                };
                v.err(
                    n,
                    format!("batch `{s}` is neither a count nor a percentage{hint}"),
                );
                return None;
            };
            match p.trim().parse::<u64>() {
                Ok(x) if (1..=100).contains(&x) => Some(BatchSize::Percent(x as u8)),
                Ok(x) => {
                    v.err(
                        n,
                        format!(
                            "batch {x}% is out of range 1%..=100%; a batch holds at least one host"
                        ),
                    );
                    None
                }
                Err(_) => {
                    v.err(
                        n,
                        format!("batch `{s}` is not a whole percentage; write {FORMS}"),
                    );
                    None
                }
            }
        }
        other => {
            v.err(n, format!("batch must be {FORMS}, found {}", other.found()));
            None
        }
    }
}
