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
            // The configuration only tells where the store (and so the log) is; `run` loads it
            // again and reports its errors.
            let config = sluice::config::load(&cli.config).ok();
            // Kept to the end: dropping the guard would stop the log writer at once.
            let _guard = init_logging(config.as_ref());
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

/// Logs go to `sluice.log` (0600) in `$SLUICE_LOG_DIR`, else the local store's directory
/// (0700), never to the screen; `RUST_LOG` filters (default info). When that file cannot be
/// opened sluice says so on stderr and goes on without a log: no command, least of all a
/// rollback, fails because of logging.
fn init_logging(
    config: Option<&sluice::config::Config>,
) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    let dir = std::env::var_os("SLUICE_LOG_DIR")
        .map(std::path::PathBuf::from)
        .or_else(|| match config.map(|c| &c.store) {
            Some(sluice::config::Store::Local { path }) => Some(path.clone()),
            _ => None,
        })?;
    let file = match sluice::local_files::open_log(&dir) {
        Ok(f) => f,
        Err(why) => {
            eprintln!("sluice: warning: {why}");
            return None;
        }
    };
    let (writer, guard) = tracing_appender::non_blocking(file);
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
