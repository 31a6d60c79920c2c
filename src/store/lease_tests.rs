//! Unit tests of leases: a recorded clock and declared processes, temp-dir stores.

use super::super::testing::{store, TestClock, TestProbe};
use super::*;
use std::sync::Arc;

fn holder(op: &str, pid: u32) -> Holder {
    Holder {
        operator: op.into(),
        machine: machine_name(),
        pid,
        pid_start: Some(1000 + pid as u64),
        purpose: format!("deploy demo by {op}"),
    }
}

fn setup() -> (tempfile::TempDir, Arc<TestClock>, Arc<TestProbe>, Store) {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let probe = Arc::new(TestProbe::default());
    probe.0.lock().unwrap().insert(1, 1001);
    probe.0.lock().unwrap().insert(2, 1002);
    let s = store(dir.path(), clock.clone(), probe.clone());
    (dir, clock, probe, s)
}

#[test]
fn a_second_holder_is_refused_and_told_who_holds_it() {
    let (_d, _c, _p, s) = setup();
    let a = s.acquire("demo", &holder("alice", 1), false).unwrap();
    let e = s.acquire("demo", &holder("bob", 2), false).unwrap_err();
    let LeaseError::Held(l) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(l.token, a.lease.token);
    let msg = e.to_string();
    assert!(
        msg.contains("alice") && msg.contains("deploy demo by alice"),
        "{msg}"
    );
    assert!(msg.contains("sluice lock break demo"), "{msg}");
}

#[test]
fn a_lease_expires_after_its_ttl_unless_renewed() {
    let (_d, clock, _p, s) = setup();
    let a = s.acquire("demo", &holder("alice", 1), false).unwrap();
    clock.advance(chrono::Duration::seconds(20));
    s.renew("demo", a.lease.token).unwrap();
    clock.advance(chrono::Duration::seconds(20));
    // 40 s after acquiring, but renewed at 20 s: still held.
    assert!(s.acquire("demo", &holder("bob", 2), false).is_err());
    clock.advance(chrono::Duration::seconds(11));
    let b = s.acquire("demo", &holder("bob", 2), false).unwrap();
    assert!(b.lease.token > a.lease.token);
    assert_eq!(b.took_over, None, "an expired lease is not a takeover");
    // The old holder's heartbeat now finds it lost, naming the new holder.
    let e = s.renew("demo", a.lease.token).unwrap_err();
    assert!(e.to_string().contains("bob"), "{e}");
}

#[test]
fn a_dead_holder_on_this_machine_expires_at_once() {
    let (_d, _c, probe, s) = setup();
    s.acquire("demo", &holder("alice", 1), false).unwrap();
    probe.0.lock().unwrap().remove(&1);
    assert_eq!(s.leases().unwrap()[0].1, Liveness::HolderDead);
    s.acquire("demo", &holder("bob", 2), false).unwrap();
}

#[test]
fn a_reused_pid_is_not_the_holder() {
    let (_d, _c, probe, s) = setup();
    s.acquire("demo", &holder("alice", 1), false).unwrap();
    probe.0.lock().unwrap().insert(1, 99_999); // same pid, another process
    s.acquire("demo", &holder("bob", 2), false).unwrap();
}

#[test]
fn a_holder_elsewhere_is_judged_by_its_ttl_alone() {
    let l = Lease {
        service: "demo".into(),
        token: 1,
        holder: Holder {
            machine: "ci-runner-7".into(),
            ..holder("ci", 1)
        },
        acquired_at: DateTime::<Utc>::UNIX_EPOCH,
        expires_at: DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::seconds(30),
    };
    let t = |s| DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::seconds(s);
    assert_eq!(liveness(&l, t(29), "laptop", None), Liveness::Live);
    assert_eq!(liveness(&l, t(30), "laptop", None), Liveness::Expired);
}

#[test]
fn takeover_replaces_a_live_lease_with_a_higher_token() {
    let (_d, _c, _p, s) = setup();
    let a = s.acquire("demo", &holder("alice", 1), false).unwrap();
    let b = s.acquire("demo", &holder("bob", 2), true).unwrap();
    assert!(b.lease.token > a.lease.token);
    assert_eq!(b.took_over.map(|l| l.token), Some(a.lease.token));
    assert!(matches!(
        s.renew("demo", a.lease.token),
        Err(LeaseError::Lost { .. })
    ));
}

#[test]
fn tokens_are_never_reused_after_a_break() {
    let (_d, _c, _p, s) = setup();
    let a = s.acquire("demo", &holder("alice", 1), false).unwrap();
    assert_eq!(
        s.break_lease("demo").unwrap().map(|l| l.token),
        Some(a.lease.token)
    );
    assert!(matches!(
        s.renew("demo", a.lease.token),
        Err(LeaseError::Lost { now: None, .. })
    ));
    let b = s.acquire("demo", &holder("bob", 2), false).unwrap();
    assert!(b.lease.token > a.lease.token);
    assert_eq!(s.last_token("demo").unwrap(), b.lease.token);
}

#[test]
fn release_only_drops_ones_own_token() {
    let (_d, _c, _p, s) = setup();
    let a = s.acquire("demo", &holder("alice", 1), false).unwrap();
    let b = s.acquire("demo", &holder("bob", 2), true).unwrap();
    s.release("demo", a.lease.token).unwrap();
    assert_eq!(s.leases().unwrap()[0].0.token, b.lease.token);
    s.release("demo", b.lease.token).unwrap();
    assert!(s.leases().unwrap().is_empty());
}

#[test]
fn start_time_is_field_22() {
    let stat = "1234 (a (weird) name) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 4242 19";
    assert_eq!(parse_start_time(stat), Some(4242));
    // A zombie (killed, not yet reaped) holds nothing.
    let zombie = stat.replace(") S ", ") Z ");
    assert_eq!(parse_start_time(&zombie), None);
    let me = ProcProbe.start_time(std::process::id());
    assert!(me.is_some());
}

proptest::proptest! {
    // Every case opens a database and fsyncs each commit: fewer cases, still many orders.
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
    /// Whatever mix of acquire, takeover, break, release and expiry happens, every token
    /// issued is higher than every token before it, per service and overall.
    #[test]
    fn tokens_only_grow(ops in proptest::collection::vec((0u8..5, 0u8..2), 1..40)) {
        let (_d, clock, _p, s) = setup();
        let mut last = 0u64;
        let services = ["demo", "api"];
        for (op, svc) in ops {
            let svc = services[svc as usize];
            match op {
                0 | 1 => {
                    if let Ok(a) = s.acquire(svc, &holder("x", 1 + op as u32), op == 1) {
                        proptest::prop_assert!(a.lease.token > last);
                        last = a.lease.token;
                    }
                }
                2 => { s.break_lease(svc).unwrap(); }
                3 => {
                    if let Some((l, _)) = s.leases().unwrap().into_iter().find(|(l, _)| l.service == svc) {
                        s.release(svc, l.token).unwrap();
                    }
                }
                _ => clock.advance(chrono::Duration::seconds(31)),
            }
        }
    }
}
