//! Rolling: hosts in batches (config order). Each batch gets the new version on its canary
//! track, is switched to it (100 % there), baked and judged before the next batch. A failure
//! rolls back every host touched so far; hosts of later batches are never touched.
//!
//! The finish is `ops::promote` on every host at once: by then every host already serves the
//! new version from its canary track and the stable stacks carry no traffic anywhere, so
//! recreating them all in parallel risks nothing and takes one host's time instead of N.

use std::time::Duration;

use chrono::Utc;

use super::{Rollout, Stop};
use crate::domain::batches::plan;
use crate::domain::TrackName;
use crate::domain::{BatchSize, Split};
use crate::engine::event::EventKind;
use crate::engine::ops;

impl Rollout {
    pub(super) async fn rolling(&mut self, size: BatchSize, bake: Duration) -> Result<(), Stop> {
        let batches = plan(&self.service.hosts, size);
        let of = batches.len();
        self.rollback_hosts = Some(Vec::new());
        for (i, hosts) in batches.iter().enumerate() {
            let batch = i + 1;
            self.check_done(&format!("before batch {batch}/{of}"))
                .await?;
            self.em.emit(EventKind::BatchStarted {
                batch,
                of,
                hosts: hosts.clone(),
            });
            // Counted as touched before anything runs there: a half-done batch is rolled back.
            if let Some(touched) = &mut self.rollback_hosts {
                touched.extend(hosts.iter().cloned());
            }
            let sub = self.subset(hosts);
            let cancel = self.cancel.clone();
            ops::start_track(
                &self.ctx,
                &sub,
                TrackName::Canary,
                &self.version,
                &self.em,
                &cancel,
            )
            .await
            .map_err(|e| Stop::Rollback(format!("batch {batch}/{of}: {e}")))?;
            // A batch that cannot warm up gets no traffic.
            crate::engine::checks::warm_up(&self.ctx, &sub, &self.em)
                .await
                .map_err(|e| Stop::Rollback(format!("batch {batch}/{of}: {e}")))?;
            ops::set_split(&self.ctx, &sub, Split::CANARY, &self.em)
                .await
                .map_err(|e| Stop::Rollback(format!("batch {batch}/{of}: {e}")))?;
            self.em.emit(EventKind::BatchReached {
                batch,
                of,
                hosts: hosts.clone(),
                bake_until: chrono::Duration::from_std(bake)
                    .ok()
                    .map(|d| Utc::now() + d),
            });
            // Rolling refuses an early promotion (see `handle`), so the bake never ends in one.
            self.bake(bake).await?;
        }
        self.check_done("before the finish").await?;
        // Every host is on the new version now; a failure from here rolls all of them back.
        self.rollback_hosts = None;
        self.promote().await
    }

    /// The hosts of the batches done must still serve the new version (read back): after a
    /// `sluice rollback` from another process this deployment stops instead of rolling on.
    async fn check_done(&mut self, when: &str) -> Result<(), Stop> {
        let done = self.rollback_hosts.clone().unwrap_or_default();
        if done.is_empty() {
            return Ok(());
        }
        let want = Split::CANARY.weights(self.service.trickle);
        let sub = self.subset(&done);
        let views = ops::observe(&self.ctx, &sub, &self.em)
            .await
            .map_err(|e| Stop::Rollback(format!("{when}: {e}")))?;
        let moved: Vec<String> = views
            .iter()
            .filter(|v| {
                (v.stable_weight, v.canary_weight) != (want.stable, want.canary)
                    || !v.canary.running
            })
            .map(|v| v.host.clone())
            .collect();
        if moved.is_empty() {
            Ok(())
        } else {
            Err(Stop::Rollback(format!(
                "{when}: {} no longer on the new version (changed outside this deployment, e.g. \
                 by `sluice rollback` from another process)",
                moved.join(", ")
            )))
        }
    }
}
