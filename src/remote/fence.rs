//! The fencing tokens this process holds, per service. Every mutating host command carries the
//! token of its service's lease; without one (never taken, released, or lost to a newer
//! holder) the command fails locally and changes nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Held(u64),
    Lost(String),
}

#[derive(Debug, Clone, Default)]
pub struct Fences(Arc<Mutex<HashMap<String, State>>>);

impl Fences {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, State>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// This process now holds `service`'s lease with `token`.
    pub fn hold(&self, service: &str, token: u64) {
        self.map().insert(service.to_string(), State::Held(token));
    }

    /// The lease was lost; further commands fail with `why`.
    pub fn lose(&self, service: &str, token: u64, why: String) {
        let mut m = self.map();
        if m.get(service) == Some(&State::Held(token)) {
            m.insert(service.to_string(), State::Lost(why));
        }
    }

    /// The lease with `token` was released (a newer one of this process is left alone).
    pub fn release(&self, service: &str, token: u64) {
        let mut m = self.map();
        if m.get(service) == Some(&State::Held(token)) {
            m.remove(service);
        }
    }

    /// The token to send, or why there is none.
    pub fn token(&self, service: &str) -> Result<u64, String> {
        match self.map().get(service) {
            Some(State::Held(t)) => Ok(*t),
            Some(State::Lost(why)) => Err(why.clone()),
            None => Err(format!(
                "no lease is held on service {service}; take it before changing hosts"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_and_released_leases_give_no_token() {
        let f = Fences::default();
        assert!(f.token("demo").unwrap_err().contains("no lease"));
        f.hold("demo", 3);
        assert_eq!(f.token("demo"), Ok(3));
        f.lose("demo", 2, "old".into()); // an older lease's loss changes nothing
        assert_eq!(f.token("demo"), Ok(3));
        f.lose("demo", 3, "taken over by bob".into());
        assert_eq!(f.token("demo"), Err("taken over by bob".into()));
        f.hold("demo", 5);
        f.release("demo", 3);
        assert_eq!(f.token("demo"), Ok(5));
        f.release("demo", 5);
        assert!(f.token("demo").is_err());
    }
}
