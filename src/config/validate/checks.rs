//! The top-level `checks:` section (pre-deploy checks) and `services.*.warmup`.

use super::*;
use crate::config::safety::*;

/// `1GiB`, `500MiB`, `2GB`, `1024KiB`, `100B`: a size in bytes. Binary (KiB, MiB, GiB, TiB)
/// and decimal (KB, MB, GB, TB) units; a unit is required.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let unit = unit.trim();
    let mult: u64 = match unit {
        "B" => 1,
        "KiB" | "K" => 1 << 10,
        "MiB" | "M" => 1 << 20,
        "GiB" | "G" => 1 << 30,
        "TiB" | "T" => 1 << 40,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        "" => return Err(format!("`{t}` has no unit; write e.g. {t}GiB or {t}MiB")),
        u => {
            return Err(format!(
                "unknown unit `{u}`; use B, KiB, MiB, GiB, TiB (or KB, MB, GB, TB)"
            ))
        }
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("`{t}` is not a size such as 1GiB or 500MiB"))?;
    let bytes = n * mult as f64;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 / 2.0 {
        return Err(format!("`{t}` is out of range"));
    }
    Ok(bytes as u64)
}

pub(super) fn checks(v: &mut V, top: &Fields) -> Checks {
    let mut c = Checks { disk_min: None };
    let Some(f) = v.section(top, "checks", "checks", &["disk_min"]) else {
        return c;
    };
    if let Some(n) = f.get("disk_min") {
        let s = match &n.value {
            Value::Int(i) => Err(format!("`{i}` has no unit; write e.g. {i}GiB or {i}MiB")),
            Value::Str(s) => parse_size(s),
            other => Err(format!(
                "must be a size such as 1GiB or 500MiB, found {}",
                other.found()
            )),
        };
        match s {
            Ok(b) => c.disk_min = Some(b),
            Err(e) => v.err(n, format!("checks.disk_min: {e}")),
        }
    }
    c
}

pub(super) fn warmup(v: &mut V, n: Option<&Node>, service: &str) -> Option<Warmup> {
    let n = n?;
    let what = format!("warmup of service {service}");
    let f = v.fields(
        n,
        &what,
        &["requests", "concurrency", "path", "timeout", "p99_max"],
    )?;
    let requests = v
        .require(&f, "requests", &what)
        .and_then(|r| v.int(r, "warmup.requests", 1, 10_000))? as u32;
    let concurrency = v.opt(&f, "concurrency", 1, |v, n| {
        v.int(n, "warmup.concurrency", 1, 64).map(|c| c as u32)
    });
    if concurrency > requests {
        if let Some(c) = f.get("concurrency") {
            v.err(
                c,
                format!("warmup.concurrency {concurrency} is more than its {requests} requests"),
            );
        }
    }
    let path = v.opt(&f, "path", "/".to_string(), |v, p| {
        let s = v.string(p, "warmup.path")?;
        if !s.starts_with('/') || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            v.err(
                p,
                format!("warmup.path `{s}` must start with `/` and hold no spaces"),
            );
            return None;
        }
        Some(s)
    });
    let timeout = v.opt(&f, "timeout", Duration::from_secs(2), |v, n| {
        positive(v, n, "warmup.timeout")
    });
    let p99_max = f
        .get("p99_max")
        .and_then(|n| positive(v, n, "warmup.p99_max"));
    Some(Warmup {
        requests,
        concurrency,
        path,
        timeout,
        p99_max,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("1.5 GiB"), Ok(3 << 29));
        assert_eq!(parse_size("500MB"), Ok(500_000_000));
        assert_eq!(parse_size("10B"), Ok(10));
        assert!(parse_size("10").unwrap_err().contains("no unit"));
        assert!(parse_size("10 parsecs")
            .unwrap_err()
            .contains("unknown unit"));
        assert!(parse_size("GiB").is_err());
        assert!(parse_size("1e99TiB").is_err());
    }
}
