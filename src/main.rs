use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use sluice::cli::{self, Cli};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(addr) = &cli.metrics_listen {
        if let Err(e) = sluice::metrics::listen(addr) {
            eprintln!("sluice: {e}");
            return ExitCode::from(cli::EXIT_USAGE);
        }
    }
    match cli.command {
        Some(cli::Cmd::Check) => {
            // The configuration, and the console's keymap file when there is one.
            let config_ok = cli::check(&cli.config) == ExitCode::SUCCESS;
            let keys_ok = sluice::tui::keymap::file::check(cli.keys.as_deref(), &cli.config);
            if config_ok && keys_ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(cli::EXIT_USAGE)
            }
        }
        Some(cmd) => {
            // Kept to the end: dropping the guard would stop the log writer at once.
            let _guard = init_logging(None);
            cli::run(cli.config, cmd)
        }
        None => console(cli.config, cli.keys),
    }
}

fn console(path: std::path::PathBuf, keys: Option<std::path::PathBuf>) -> ExitCode {
    if let Err(e) = color_eyre::install() {
        eprintln!("sluice: {e}");
    }
    let Some(config) = cli::load(&path) else {
        return ExitCode::from(cli::EXIT_USAGE);
    };
    let keymap = match sluice::tui::keymap::file::load_for(keys.as_deref(), &path) {
        Ok((k, _)) => k,
        Err(diags) => {
            for d in &diags {
                eprintln!("{d}");
            }
            eprintln!(
                "sluice: the keymap has {} error(s); fix them (see `sluice check`)",
                diags.len()
            );
            return ExitCode::from(cli::EXIT_USAGE);
        }
    };
    let _guard = init_logging(Some(&config));
    let operator = cli::operator();
    match sluice::tui::run(Arc::new(config), operator, keymap) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sluice: {e:?}");
            ExitCode::from(cli::EXIT_FAILED)
        }
    }
}

/// Logs go to a file (never to the screen): `$SLUICE_LOG_DIR`, else the local store's
/// directory, else the system temp dir. `RUST_LOG` filters (default info).
fn init_logging(
    config: Option<&sluice::config::Config>,
) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    let dir = std::env::var_os("SLUICE_LOG_DIR")
        .map(std::path::PathBuf::from)
        .or_else(|| match config.map(|c| &c.store) {
            Some(sluice::config::Store::Local { path }) => Some(path.clone()),
            _ => None,
        })
        .unwrap_or_else(std::env::temp_dir);
    if std::fs::create_dir_all(&dir).is_err() {
        return None;
    }
    let appender = tracing_appender::rolling::never(dir, "sluice.log");
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init()
        .ok()?;
    Some(guard)
}
