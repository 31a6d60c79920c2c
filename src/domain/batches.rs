//! The rolling strategy's batch planner: hosts in config order, cut into batches of a count or
//! a percentage of the hosts.

use std::fmt;

/// How many hosts a rolling batch holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchSize {
    /// This many hosts per batch (at least 1).
    Hosts(u32),
    /// This percentage of the service's hosts per batch (1..=100), rounded up.
    Percent(u8),
}

impl BatchSize {
    /// Hosts per batch for a service with `total` hosts: never 0 (a batch is never empty),
    /// never more than `total`. A percentage rounds up, so 50 % of 3 hosts is 2, and a small
    /// percentage of a small fleet is still one host.
    pub fn per_batch(self, total: usize) -> usize {
        let n = match self {
            BatchSize::Hosts(n) => n as usize,
            BatchSize::Percent(p) => (total * p as usize).div_ceil(100),
        };
        n.clamp(1, total.max(1))
    }
}

impl fmt::Display for BatchSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BatchSize::Hosts(1) => write!(f, "1 host"),
            BatchSize::Hosts(n) => write!(f, "{n} hosts"),
            BatchSize::Percent(p) => write!(f, "{p} % of the hosts"),
        }
    }
}

/// `hosts` in order, cut into batches of `size`. Every host appears exactly once; no batch is
/// empty; only the last may be smaller.
pub fn plan<T: Clone>(hosts: &[T], size: BatchSize) -> Vec<Vec<T>> {
    hosts
        .chunks(size.per_batch(hosts.len()))
        .map(<[T]>::to_vec)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sizes(hosts: usize, size: BatchSize) -> Vec<usize> {
        let h: Vec<usize> = (0..hosts).collect();
        plan(&h, size).iter().map(Vec::len).collect()
    }

    #[test]
    fn counts() {
        assert_eq!(sizes(3, BatchSize::Hosts(1)), [1, 1, 1]);
        assert_eq!(sizes(3, BatchSize::Hosts(2)), [2, 1]);
        assert_eq!(sizes(3, BatchSize::Hosts(3)), [3]);
        assert_eq!(sizes(3, BatchSize::Hosts(10)), [3]);
        // A count of 0 cannot come from the config, but still never makes empty batches.
        assert_eq!(sizes(2, BatchSize::Hosts(0)), [1, 1]);
    }

    #[test]
    fn percentages_round_up() {
        assert_eq!(sizes(3, BatchSize::Percent(50)), [2, 1]);
        assert_eq!(sizes(3, BatchSize::Percent(34)), [2, 1]);
        assert_eq!(sizes(3, BatchSize::Percent(33)), [1, 1, 1]);
        assert_eq!(sizes(10, BatchSize::Percent(25)), [3, 3, 3, 1]);
        assert_eq!(sizes(4, BatchSize::Percent(25)), [1, 1, 1, 1]);
        assert_eq!(sizes(3, BatchSize::Percent(1)), [1, 1, 1]);
        assert_eq!(sizes(3, BatchSize::Percent(100)), [3]);
    }

    #[test]
    fn no_hosts_no_batches() {
        assert!(sizes(0, BatchSize::Percent(50)).is_empty());
        assert!(sizes(0, BatchSize::Hosts(1)).is_empty());
    }

    #[test]
    fn keeps_config_order() {
        let hosts = ["web-1", "web-2", "web-3"];
        assert_eq!(
            plan(&hosts, BatchSize::Hosts(2)),
            vec![vec!["web-1", "web-2"], vec!["web-3"]]
        );
    }

    fn any_size() -> impl Strategy<Value = BatchSize> {
        prop_oneof![
            (1u32..50).prop_map(BatchSize::Hosts),
            (1u8..=100).prop_map(BatchSize::Percent),
        ]
    }

    proptest! {
        #[test]
        fn every_host_exactly_once_in_order(n in 0usize..200, size in any_size()) {
            let hosts: Vec<usize> = (0..n).collect();
            let batches = plan(&hosts, size);
            let flat: Vec<usize> = batches.iter().flatten().copied().collect();
            prop_assert_eq!(flat, hosts);
            prop_assert!(batches.iter().all(|b| !b.is_empty()));
            // Every batch but the last has the planned size.
            let per = size.per_batch(n);
            for b in batches.iter().rev().skip(1) {
                prop_assert_eq!(b.len(), per);
            }
            if let BatchSize::Percent(p) = size {
                // Rounded up, but never more than one host above the exact share.
                prop_assert!(per * 100 >= n * p as usize || per == n);
                prop_assert!(per <= (n * p as usize) / 100 + 1);
            }
        }
    }
}
