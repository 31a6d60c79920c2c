//! `sluice nginx plan`: the engine's own rewrite, printed instead of applied.

use std::path::Path;
use std::process::ExitCode;

use super::{EXIT_FAILED, EXIT_USAGE};
use crate::remote::nginx;

pub fn run(file: &Path, upstream: &str, weights: &[String]) -> ExitCode {
    let mut parsed = Vec::new();
    for w in weights {
        let Some((addr, n)) = w.rsplit_once('=') else {
            eprintln!("sluice: --weight {w}: expected ADDR=N, e.g. 127.0.0.1:8082=10");
            return ExitCode::from(EXIT_USAGE);
        };
        let Ok(n) = n.parse::<u32>() else {
            eprintln!("sluice: --weight {w}: `{n}` is not a whole number (0 = no traffic)");
            return ExitCode::from(EXIT_USAGE);
        };
        parsed.push((addr.to_string(), n));
    }
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("sluice: cannot read {}: {e}", file.display());
            return ExitCode::from(EXIT_FAILED);
        }
    };
    match nginx::set_weights(&text, upstream, &parsed) {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sluice: {}: {e}", file.display());
            ExitCode::from(EXIT_FAILED)
        }
    }
}
