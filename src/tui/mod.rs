//! The console: a ratatui app over the in-process engine. Keys become engine commands; engine
//! events and a one-second tick redraw the screen; the hosts are re-read every few seconds so
//! what is shown is what the hosts hold.

pub mod app;
pub mod approvals;
pub mod chart;
pub mod deploy_form;
pub mod details;
pub mod keymap;
pub mod theme;
pub mod ui;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use ratatui::crossterm::event::{self, Event as TermEvent, KeyEventKind};
use tokio::sync::{broadcast, mpsc};

use crate::config::Config;
use crate::engine::{Command, Engine};
use crate::remote::ssh::SshPool;
use app::{App, Level};

/// How often the console re-reads every host.
const REFRESH: Duration = Duration::from_secs(5);

enum Input {
    Key(event::KeyEvent),
    Resize,
}

/// Open the console with `keymap` (see `keymap::file::load_for`).
pub fn run(
    config: Arc<Config>,
    operator: String,
    keymap: keymap::Keymap,
) -> color_eyre::Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(run_async(config, operator, keymap))
}

async fn run_async(
    config: Arc<Config>,
    operator: String,
    keymap: keymap::Keymap,
) -> color_eyre::Result<()> {
    let remote = Arc::new(SshPool::new(&config));
    let handle = Engine::start(config.clone(), remote);
    crate::metrics::attach(handle.subscribe());
    let mut events = handle.subscribe();
    // The console opens even without a notifier's secret: it is where rollbacks happen.
    let (_notify, notify_problem) = match crate::notify::attach(config.clone(), handle.subscribe())
    {
        Ok(d) => (d, None),
        Err(e) => {
            tracing::warn!("notifications are off: {e}");
            (None, Some(format!("notifications are OFF: {e}")))
        }
    };

    // Terminal input is blocking; read it on its own thread.
    let (input_tx, mut input_rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || loop {
        let sent = match event::read() {
            Ok(TermEvent::Key(k)) if k.kind == KeyEventKind::Press => input_tx.send(Input::Key(k)),
            Ok(TermEvent::Resize(..)) => input_tx.send(Input::Resize),
            Ok(_) => Ok(()),
            Err(_) => break,
        };
        if sent.is_err() {
            break;
        }
    });

    let mut terminal = ratatui::try_init()?;
    let config_for_store = config.clone();
    let mut app = App::new(config, operator);
    app.keymap = keymap;
    // Themes: the built-in ones plus ./themes (and $SLUICE_THEMES); $SLUICE_THEME picks one.
    let dir =
        std::env::var_os("SLUICE_THEMES").map_or_else(|| "themes".into(), std::path::PathBuf::from);
    let (themes, problems) = theme::Themes::with_dir(&dir);
    let wanted = std::env::var("SLUICE_THEME").unwrap_or_else(|_| "dark".into());
    if let Err(e) = app.set_themes(themes, &wanted) {
        app.message = Some((Level::Error, e));
    }
    if let Some(p) = problems.first() {
        app.message = Some((Level::Error, format!("theme file skipped: {p}")));
    }
    if let Some(p) = notify_problem {
        app.message = Some((Level::Error, p));
    }
    let _ = handle.send(Command::Refresh { service: None }).await;
    // Pending approvals come from the store (any process may ask or decide), read each tick.
    let approvals_store = crate::store::Store::for_config(&config_for_store).ok();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut refresh = tokio::time::interval(REFRESH);
    let mut leaving_after_rollback = false;

    let result: color_eyre::Result<()> = loop {
        if let Err(e) = terminal.draw(|f| ui::draw(f, &app, Utc::now())) {
            break Err(e.into());
        }
        tokio::select! {
            input = input_rx.recv() => match input {
                Some(Input::Key(k)) => {
                    let commands = app.on_key(k);
                    for c in commands {
                        if matches!(c, Command::RollbackAll { .. }) && app.quit {
                            leaving_after_rollback = true;
                            app.quit = false;
                            app.emergency = Some(Utc::now());
                        }
                        if let Err(e) = handle.send(c).await {
                            app.message = Some((Level::Error, e.to_string()));
                        }
                    }
                    read_details(&mut app, approvals_store.as_ref(), false);
                }
                Some(Input::Resize) => {}
                None => break Ok(()),
            },
            e = events.recv() => match e {
                Ok(e) => {
                    app.on_event(&e);
                    // Fold everything queued before drawing again.
                    while let Ok(e) = events.try_recv() {
                        app.on_event(&e);
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    app.message = Some((Level::Error, format!("{n} events skipped; re-reading hosts")));
                    let _ = handle.send(Command::Refresh { service: None }).await;
                }
                Err(broadcast::error::RecvError::Closed) => break Ok(()),
            },
            _ = tick.tick() => {
                read_details(&mut app, approvals_store.as_ref(), true);
                if let Some(store) = &approvals_store {
                    match store.pending_approvals() {
                        Ok(p) => app.approvals = p,
                        Err(e) => tracing::warn!("reading approvals: {e}"),
                    }
                    match store.leases() {
                        Ok(l) => app.leases = Some(l),
                        Err(e) => tracing::warn!("reading leases: {e}"),
                    }
                }
            }
            _ = refresh.tick() => {
                let _ = handle.send(Command::Refresh { service: None }).await;
            }
        }
        if leaving_after_rollback && app.emergency.is_none() && app.in_flight() == 0 {
            break Ok(());
        }
        if app.quit {
            break Ok(());
        }
    };
    ratatui::restore();
    result
}

/// Fill the details view from the store when it is open (at once when it just opened; on
/// every tick with `again`).
fn read_details(app: &mut App, store: Option<&crate::store::Store>, again: bool) {
    let app::Mode::Details { service } = &app.mode else {
        return;
    };
    let fresh = app.details.as_ref().is_some_and(|d| &d.service == service);
    if fresh && !again {
        return;
    }
    app.details = Some(match store {
        Some(s) => details::Details::read(s, service),
        None => details::Details {
            service: service.clone(),
            error: Some("no store is configured or it cannot be opened".into()),
            ..details::Details::default()
        },
    });
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_approvals;
#[cfg(test)]
mod tests_details;
#[cfg(test)]
mod tests_phases;
