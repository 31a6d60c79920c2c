//! Traffic split between the stable and canary tracks, and its expression as NGINX weights.
//!
//! sluice thinks in percent of traffic on the canary. NGINX thinks in relative integer
//! weights >= 1, so a 0 % track is expressed as the server's `down` flag (weight 0 here),
//! or as weight 1 when the service configures a "trickle" to keep a canary observable.

use serde::Serialize;

/// Percent of traffic sent to the canary track, 0..=100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Split {
    canary: u8,
}

/// NGINX weights for the two servers of a service's upstream; 0 means `down`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TrackWeights {
    pub stable: u32,
    pub canary: u32,
}

impl Split {
    /// All traffic on stable.
    pub const STABLE: Split = Split { canary: 0 };
    /// All traffic on the canary.
    pub const CANARY: Split = Split { canary: 100 };
    /// A manual canary's default first share.
    pub const TEN: Split = Split { canary: 10 };

    /// `None` when `canary_percent > 100`.
    pub fn new(canary_percent: u8) -> Option<Split> {
        (canary_percent <= 100).then_some(Split {
            canary: canary_percent,
        })
    }

    pub fn canary_percent(self) -> u8 {
        self.canary
    }

    pub fn stable_percent(self) -> u8 {
        100 - self.canary
    }

    /// The weights to write. `trickle` (0 = none) is the weight kept on a 0 % canary; the
    /// stable track is never trickled when the canary takes everything, since 100 % means 100 %.
    pub fn weights(self, trickle: u32) -> TrackWeights {
        let canary = match self.canary {
            0 => trickle,
            c => u32::from(c),
        };
        TrackWeights {
            stable: u32::from(self.stable_percent()),
            canary,
        }
    }
}

impl TrackWeights {
    /// The canary's share of traffic in percent, as NGINX will route it (rounded).
    /// `None` when both are down (an upstream that serves only errors).
    pub fn canary_share(self) -> Option<u8> {
        let total = u64::from(self.stable) + u64::from(self.canary);
        if total == 0 {
            return None;
        }
        let pct = (u64::from(self.canary) * 100 + total / 2) / total;
        u8::try_from(pct).ok()
    }
}

/// How a weight reads to a person: `down` for 0 (no traffic), else the number.
pub fn weight_label(w: u32) -> String {
    if w == 0 {
        "down".to_string()
    } else {
        w.to_string()
    }
}

impl std::fmt::Display for Split {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.stable_percent(), self.canary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn zero_canary_is_down_unless_trickled() {
        assert_eq!(
            Split::STABLE.weights(0),
            TrackWeights {
                stable: 100,
                canary: 0
            }
        );
        assert_eq!(
            Split::STABLE.weights(1),
            TrackWeights {
                stable: 100,
                canary: 1
            }
        );
    }

    #[test]
    fn full_canary_takes_stable_down() {
        assert_eq!(
            Split::CANARY.weights(1),
            TrackWeights {
                stable: 0,
                canary: 100
            }
        );
    }

    #[test]
    fn out_of_range_is_refused() {
        assert_eq!(Split::new(101), None);
    }

    proptest! {
        #[test]
        fn weights_route_the_asked_share(p in 0u8..=100) {
            let split = Split::new(p).unwrap();
            prop_assert_eq!(split.weights(0).canary_share(), Some(p));
            prop_assert!(split.weights(0).stable >= 1 || p == 100);
        }
    }
}
