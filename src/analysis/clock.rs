//! A host's clock against ours. Log timestamps are the host's; windows are judged against this
//! machine's now, so each host's samples are moved by its measured offset. One host whose clock
//! runs ahead would otherwise push every window forward and trim the other hosts' samples out.

/// Polls older than this are replaced even by a slower one (clocks drift, and get stepped).
const KEEP_MS: i64 = 60_000;

/// The offset from the poll with the shortest round trip lately: its midpoint is the closest
/// to when the host read its clock (as NTP picks its best sample).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClockOffset {
    /// (offset, round trip, when measured), all in milliseconds.
    best: Option<(i64, i64, i64)>,
}

impl ClockOffset {
    /// A poll sent at `sent_ms` and answered at `received_ms` (our clock) in which the host
    /// said its clock read `host_ms`.
    pub fn observe(&mut self, sent_ms: i64, received_ms: i64, host_ms: i64) {
        let rtt = (received_ms - sent_ms).max(0);
        let offset = host_ms - (sent_ms + rtt / 2);
        let replace = match self.best {
            None => true,
            Some((_, best_rtt, at)) => rtt <= best_rtt || received_ms - at > KEEP_MS,
        };
        if replace {
            self.best = Some((offset, rtt, received_ms));
        }
    }

    /// How far the host's clock is ahead of ours (negative: behind); 0 until measured.
    pub fn offset_ms(&self) -> i64 {
        self.best.map_or(0, |(o, _, _)| o)
    }

    /// A host timestamp on our clock.
    pub fn to_local(&self, host_ms: i64) -> i64 {
        host_ms - self.offset_ms()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fastest_recent_poll_sets_the_offset() {
        let mut c = ClockOffset::default();
        assert_eq!(c.offset_ms(), 0);
        // 90 s ahead, asked over a 200 ms round trip.
        c.observe(1_000, 1_200, 91_100);
        assert_eq!(c.offset_ms(), 90_000);
        // A slower poll is noise: ignored.
        c.observe(2_000, 3_000, 92_900);
        assert_eq!(c.offset_ms(), 90_000);
        // A faster one is better.
        c.observe(4_000, 4_010, 94_000);
        assert_eq!(c.offset_ms(), 89_995);
        assert_eq!(c.to_local(100_000), 10_005);
        // After a minute, the latest replaces it whatever its round trip (the clock was stepped).
        c.observe(70_000, 70_500, 70_250);
        assert_eq!(c.offset_ms(), 0);
    }
}
