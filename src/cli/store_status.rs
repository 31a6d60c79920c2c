//! What `sluice status` adds from the durable store: deployments in flight (or paused after a
//! recovery) and leases, per service.

use crate::config::Config;
use crate::store::{DeploymentRecord, Lease, Liveness, Store};

pub struct Durable {
    in_flight: Vec<DeploymentRecord>,
    leases: Vec<(Lease, Liveness)>,
    /// Why the store could not be read, if it could not.
    error: Option<String>,
}

pub fn read(config: &Config) -> Durable {
    let read = || -> Result<_, crate::store::StoreError> {
        let store = Store::for_config(config)?;
        Ok((store.in_flight()?, store.leases()?))
    };
    match read() {
        Ok((in_flight, leases)) => Durable {
            in_flight,
            leases,
            error: None,
        },
        Err(e) => Durable {
            in_flight: Vec::new(),
            leases: Vec::new(),
            error: Some(e.to_string()),
        },
    }
}

impl Durable {
    fn deployment(&self, service: &str) -> Option<&DeploymentRecord> {
        self.in_flight.iter().rfind(|d| d.service == service)
    }

    fn lease(&self, service: &str) -> Option<&(Lease, Liveness)> {
        self.leases.iter().find(|(l, _)| l.service == service)
    }

    /// A live sluice holds `service`'s lease (and so judges its canary, if it is a rollout).
    /// An unreadable store counts as watched: `status` then says the store is unreadable.
    pub fn watched(&self, service: &str) -> bool {
        self.error.is_some()
            || self
                .lease(service)
                .is_some_and(|(_, live)| *live == Liveness::Live)
    }

    /// Add `deployment` (in flight, from the journal) and `lease` to a status row.
    pub fn annotate(&self, service: &str, row: &mut serde_json::Value) {
        row["deployment"] = serde_json::to_value(self.deployment(service)).unwrap_or_default();
        row["lease"] = match self.lease(service) {
            Some((l, live)) => serde_json::json!({ "lease": l, "state": live }),
            None => serde_json::Value::Null,
        };
    }

    pub fn print(&self, services: &[String]) {
        if let Some(e) = &self.error {
            println!("\n(state store unreadable: {e})");
            return;
        }
        for s in services {
            if let Some(d) = self.deployment(s) {
                println!(
                    "\n{s}: deployment #{} {} ({} -> {}, {}) is {}{}",
                    d.id,
                    d.strategy,
                    d.previous.as_deref().unwrap_or("?"),
                    d.version,
                    d.operator,
                    d.state,
                    d.canary_percent
                        .map_or(String::new(), |p| format!(", last asked for canary {p} %"))
                );
            }
            if let Some((l, live)) = self.lease(s) {
                let state = match live {
                    Liveness::Live => "held",
                    Liveness::Expired => "expired",
                    Liveness::HolderDead => "holder gone",
                };
                println!("{s}: lease {state}: {}", l.describe());
            }
        }
    }
}
