//! Bounded history of a track's judgements for the console's charts: the last hour at
//! 1-second resolution and the last 24 hours in 1-minute buckets (max error rate, max P99,
//! fewest and most requests a judgement rested on). Two fixed rings, allocated on the first
//! judgement, so memory does not grow however long the console stays open.

use chrono::{DateTime, Utc};

/// Seconds kept at full resolution.
pub const FINE_SECS: usize = 3600;
/// Seconds per downsampled bucket.
pub const BUCKET_SECS: i64 = 60;
/// Buckets kept: 24 hours.
pub const BUCKETS: usize = 24 * 60;

/// One second: the worst judgement that landed in it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Slot {
    /// Unix second this slot holds; 0: empty.
    at: i64,
    error_rate: f32,
    p99_ms: f32,
    requests: u32,
}

/// One minute, downsampled.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Bucket {
    /// Unix minute this bucket holds; 0: empty.
    minute: i64,
    max_error_rate: f32,
    max_p99_ms: f32,
    min_requests: u32,
    max_requests: u32,
    judgements: u32,
}

/// A point for a chart: when, and the figures (for a bucket: its worst figures).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Unix seconds (a bucket's start).
    pub at: i64,
    pub error_rate: f64,
    pub p99_ms: f64,
    pub min_requests: u64,
    pub max_requests: u64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    fine: Vec<Slot>,
    coarse: Vec<Bucket>,
    /// The newest second pushed.
    newest: i64,
}

impl History {
    pub fn is_empty(&self) -> bool {
        self.fine.is_empty()
    }

    /// Record a judgement of `requests` requests at `at`.
    pub fn push(&mut self, at: DateTime<Utc>, error_rate: f64, p99_ms: f64, requests: u64) {
        let sec = at.timestamp();
        if sec <= 0 {
            return;
        }
        if self.fine.is_empty() {
            self.fine = vec![Slot::default(); FINE_SECS];
            self.coarse = vec![Bucket::default(); BUCKETS];
        }
        let (e, p) = (error_rate as f32, p99_ms as f32);
        let r = u32::try_from(requests).unwrap_or(u32::MAX);
        let slot = &mut self.fine[sec.rem_euclid(FINE_SECS as i64) as usize];
        if slot.at == sec {
            slot.error_rate = slot.error_rate.max(e);
            slot.p99_ms = slot.p99_ms.max(p);
            slot.requests = slot.requests.min(r);
        } else if slot.at < sec {
            *slot = Slot {
                at: sec,
                error_rate: e,
                p99_ms: p,
                requests: r,
            };
        }
        let minute = sec.div_euclid(BUCKET_SECS);
        let b = &mut self.coarse[minute.rem_euclid(BUCKETS as i64) as usize];
        if b.minute == minute {
            b.max_error_rate = b.max_error_rate.max(e);
            b.max_p99_ms = b.max_p99_ms.max(p);
            b.min_requests = b.min_requests.min(r);
            b.max_requests = b.max_requests.max(r);
            b.judgements += 1;
        } else if b.minute < minute {
            *b = Bucket {
                minute,
                max_error_rate: e,
                max_p99_ms: p,
                min_requests: r,
                max_requests: r,
                judgements: 1,
            };
        }
        self.newest = self.newest.max(sec);
    }

    /// The samples of the last `window_secs` before `now`, oldest first: per second for up
    /// to an hour, per minute beyond.
    pub fn samples(&self, now: DateTime<Utc>, window_secs: i64) -> Vec<Sample> {
        let now = now.timestamp();
        let from = now - window_secs;
        if window_secs <= FINE_SECS as i64 {
            let mut out: Vec<Sample> = self
                .fine
                .iter()
                .filter(|s| s.at > from && s.at <= now)
                .map(|s| Sample {
                    at: s.at,
                    error_rate: f64::from(s.error_rate),
                    p99_ms: f64::from(s.p99_ms),
                    min_requests: u64::from(s.requests),
                    max_requests: u64::from(s.requests),
                })
                .collect();
            out.sort_by_key(|s| s.at);
            out
        } else {
            let mut out: Vec<Sample> = self
                .coarse
                .iter()
                .filter(|b| b.judgements > 0)
                .map(|b| (b.minute * BUCKET_SECS, b))
                .filter(|(at, _)| *at + BUCKET_SECS > from && *at <= now)
                .map(|(at, b)| Sample {
                    at,
                    error_rate: f64::from(b.max_error_rate),
                    p99_ms: f64::from(b.max_p99_ms),
                    min_requests: u64::from(b.min_requests),
                    max_requests: u64::from(b.max_requests),
                })
                .collect();
            out.sort_by_key(|s| s.at);
            out
        }
    }

    /// Bytes held by the rings (for the memory benchmark).
    pub fn heap_bytes(&self) -> usize {
        self.fine.capacity() * std::mem::size_of::<Slot>()
            + self.coarse.capacity() * std::mem::size_of::<Bucket>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const T0: i64 = 1_790_000_000 - 1_790_000_000 % 60;

    fn at(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(T0 + s, 0).single().unwrap()
    }

    #[test]
    fn empty_until_the_first_judgement_and_allocates_nothing() {
        let h = History::default();
        assert!(h.is_empty());
        assert_eq!(h.heap_bytes(), 0);
        assert!(h.samples(at(0), 300).is_empty());
    }

    #[test]
    fn one_second_resolution_for_the_last_hour() {
        let mut h = History::default();
        for s in 0..4000 {
            h.push(at(s), s as f64 / 1e4, 100.0, 50);
        }
        let five = h.samples(at(3999), 300);
        assert_eq!(five.len(), 300);
        assert_eq!((five[0].at, five[299].at), (T0 + 3700, T0 + 3999));
        let hour = h.samples(at(3999), 3600);
        assert_eq!(hour.len(), 3600);
        assert!(hour.windows(2).all(|w| w[1].at == w[0].at + 1));
        // The oldest seconds were overwritten by the ring, not kept.
        assert_eq!(hour[0].at, T0 + 400);
    }

    #[test]
    fn two_judgements_in_one_second_keep_the_worst() {
        let mut h = History::default();
        h.push(at(5), 0.01, 300.0, 80);
        h.push(at(5), 0.03, 200.0, 40);
        let s = h.samples(at(5), 60);
        assert_eq!(s.len(), 1);
        assert!((s[0].error_rate - 0.03).abs() < 1e-6);
        assert_eq!((s[0].p99_ms, s[0].min_requests), (300.0, 40));
    }

    #[test]
    fn downsampling_keeps_max_error_rate_max_p99_and_request_counts_per_minute() {
        let mut h = History::default();
        // Two minutes of judgements every 10 s; a spike in the second minute.
        for i in 0..12 {
            let s = i * 10;
            let (err, p99) = if s == 70 {
                (0.5, 2000.0)
            } else {
                (0.01, 150.0)
            };
            h.push(at(s), err, p99, 100 + s as u64);
        }
        let day = h.samples(at(119), 86_400);
        assert_eq!(day.len(), 2);
        assert_eq!((day[0].at, day[1].at), (T0, T0 + 60));
        assert!((day[0].error_rate - 0.01).abs() < 1e-6);
        assert_eq!(day[0].p99_ms, 150.0);
        assert_eq!((day[0].min_requests, day[0].max_requests), (100, 150));
        assert!((day[1].error_rate - 0.5).abs() < 1e-6);
        assert_eq!(day[1].p99_ms, 2000.0);
        assert_eq!((day[1].min_requests, day[1].max_requests), (160, 210));
    }

    #[test]
    fn a_day_of_buckets_is_kept_and_no_more() {
        let mut h = History::default();
        let before = {
            h.push(at(0), 0.0, 1.0, 1);
            h.heap_bytes()
        };
        for m in 0..(25 * 60) {
            h.push(at(m * 60 + 30), 0.0, m as f64, 10);
        }
        assert_eq!(h.heap_bytes(), before, "the rings never grow");
        let now = at(25 * 60 * 60);
        let day = h.samples(now, 86_400);
        assert_eq!(day.len(), BUCKETS);
        assert_eq!(day[0].at, T0 + 60 * 60);
        assert_eq!(day[BUCKETS - 1].p99_ms, (25 * 60 - 1) as f64);
    }

    #[test]
    fn a_late_judgement_does_not_overwrite_a_newer_slot() {
        let mut h = History::default();
        h.push(at(3600 + 7), 0.2, 10.0, 5);
        h.push(at(7), 0.9, 10.0, 5);
        let s = h.samples(at(3600 + 7), 3600);
        assert_eq!(s.len(), 1);
        assert!((s[0].error_rate - 0.2).abs() < 1e-6);
    }
}
