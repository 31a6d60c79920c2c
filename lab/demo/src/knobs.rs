//! The knobs that make the demo misbehave on purpose: an error rate and a latency, set from the
//! environment at start and changed at run time with `POST /knobs?error_rate=0.1&latency_ms=1200`.

use std::sync::atomic::{AtomicU64, Ordering};

/// The highest latency a request can be given (nginx's default proxy_read_timeout is 60 s).
pub const MAX_LATENCY_MS: u64 = 60_000;

pub struct Knobs {
    error_rate_bits: AtomicU64,
    latency_ms: AtomicU64,
}

/// A consistent copy of the knobs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Values {
    /// Share of `GET /` answered 500, 0..=1.
    pub error_rate: f64,
    /// Delay before answering `GET /`, ms (±10 % jitter is added by the caller).
    pub latency_ms: u64,
}

pub fn parse_error_rate(v: &str) -> Result<f64, String> {
    match v.trim().parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!(
            "error_rate must be a number from 0 to 1, not {v:?}"
        )),
    }
}

pub fn parse_latency_ms(v: &str) -> Result<u64, String> {
    match v.trim().parse::<u64>() {
        Ok(l) if l <= MAX_LATENCY_MS => Ok(l),
        _ => Err(format!(
            "latency_ms must be a whole number from 0 to {MAX_LATENCY_MS}, not {v:?}"
        )),
    }
}

impl Knobs {
    pub fn new(initial: Values) -> Knobs {
        Knobs {
            error_rate_bits: AtomicU64::new(initial.error_rate.to_bits()),
            latency_ms: AtomicU64::new(initial.latency_ms),
        }
    }

    /// Initial values from `DEMO_ERROR_RATE` and `DEMO_LATENCY_MS` (as given by `get`); unset
    /// means 0, an invalid value is an error (the service refuses to start).
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Knobs, String> {
        let error_rate = match get("DEMO_ERROR_RATE") {
            Some(v) if !v.trim().is_empty() => {
                parse_error_rate(&v).map_err(|e| format!("DEMO_ERROR_RATE: {e}"))?
            }
            _ => 0.0,
        };
        let latency_ms = match get("DEMO_LATENCY_MS") {
            Some(v) if !v.trim().is_empty() => {
                parse_latency_ms(&v).map_err(|e| format!("DEMO_LATENCY_MS: {e}"))?
            }
            _ => 0,
        };
        Ok(Knobs::new(Values {
            error_rate,
            latency_ms,
        }))
    }

    pub fn get(&self) -> Values {
        Values {
            error_rate: f64::from_bits(self.error_rate_bits.load(Ordering::Relaxed)),
            latency_ms: self.latency_ms.load(Ordering::Relaxed),
        }
    }

    /// Apply `name=value` pairs. All of them are checked first: on any error nothing changes.
    pub fn apply(&self, pairs: &[(String, String)]) -> Result<Values, String> {
        let mut error_rate = None;
        let mut latency_ms = None;
        for (k, v) in pairs {
            match k.as_str() {
                "error_rate" => error_rate = Some(parse_error_rate(v)?),
                "latency_ms" => latency_ms = Some(parse_latency_ms(v)?),
                other => {
                    return Err(format!(
                        "unknown knob {other:?} (knobs: error_rate, latency_ms)"
                    ))
                }
            }
        }
        if let Some(r) = error_rate {
            self.error_rate_bits.store(r.to_bits(), Ordering::Relaxed);
        }
        if let Some(l) = latency_ms {
            self.latency_ms.store(l, Ordering::Relaxed);
        }
        Ok(self.get())
    }
}

impl Values {
    pub fn to_json(self) -> String {
        format!(
            "{{\"error_rate\":{},\"latency_ms\":{}}}\n",
            self.error_rate, self.latency_ms
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn zero() -> Knobs {
        Knobs::new(Values {
            error_rate: 0.0,
            latency_ms: 0,
        })
    }

    #[test]
    fn apply_changes_the_named_knobs_only() {
        let k = zero();
        let v = k.apply(&pairs(&[("error_rate", "0.1")])).unwrap();
        assert_eq!(
            v,
            Values {
                error_rate: 0.1,
                latency_ms: 0
            }
        );
        let v = k.apply(&pairs(&[("latency_ms", "1200")])).unwrap();
        assert_eq!(
            v,
            Values {
                error_rate: 0.1,
                latency_ms: 1200
            }
        );
        assert_eq!(k.apply(&[]).unwrap(), v, "no pairs: unchanged");
    }

    #[test]
    fn invalid_values_change_nothing() {
        let k = zero();
        for bad in [
            ("error_rate", "1.5"),
            ("error_rate", "-0.1"),
            ("error_rate", "NaN"),
            ("error_rate", "inf"),
            ("error_rate", "ten"),
            ("error_rate", ""),
            ("latency_ms", "-5"),
            ("latency_ms", "1.5"),
            ("latency_ms", "60001"),
            ("latency_ms", "99999999999999999999999"),
            ("latncy_ms", "5"),
        ] {
            // The valid pair comes first: it must not be applied either.
            let p = pairs(&[("latency_ms", "7"), bad]);
            assert!(k.apply(&p).is_err(), "{bad:?} accepted");
            assert_eq!(k.get(), zero().get(), "{bad:?} changed something");
        }
    }

    #[test]
    fn boundaries_are_accepted() {
        let k = zero();
        let v = k
            .apply(&pairs(&[("error_rate", "1"), ("latency_ms", "60000")]))
            .unwrap();
        assert_eq!(
            v,
            Values {
                error_rate: 1.0,
                latency_ms: 60_000
            }
        );
        assert_eq!(
            k.apply(&pairs(&[("error_rate", " 0 ")]))
                .unwrap()
                .error_rate,
            0.0
        );
    }

    #[test]
    fn from_env() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let k = Knobs::from_env(env(&[])).unwrap();
        assert_eq!(k.get(), zero().get());
        let k = Knobs::from_env(env(&[
            ("DEMO_ERROR_RATE", "0.25"),
            ("DEMO_LATENCY_MS", "40"),
        ]))
        .unwrap();
        assert_eq!(
            k.get(),
            Values {
                error_rate: 0.25,
                latency_ms: 40
            }
        );
        let k = Knobs::from_env(env(&[("DEMO_ERROR_RATE", ""), ("DEMO_LATENCY_MS", "")])).unwrap();
        assert_eq!(k.get(), zero().get(), "empty means unset");
        let e = Knobs::from_env(env(&[("DEMO_ERROR_RATE", "2")]))
            .err()
            .unwrap();
        assert!(e.starts_with("DEMO_ERROR_RATE:"), "{e}");
        assert!(Knobs::from_env(env(&[("DEMO_LATENCY_MS", "soon")])).is_err());
    }

    #[test]
    fn json() {
        let v = Values {
            error_rate: 0.1,
            latency_ms: 1200,
        };
        assert_eq!(v.to_json(), "{\"error_rate\":0.1,\"latency_ms\":1200}\n");
    }
}
