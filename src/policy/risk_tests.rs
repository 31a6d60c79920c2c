use super::*;
use proptest::prelude::*;

fn calm() -> Facts {
    Facts {
        hosts: 1,
        colocated_services: 0,
        image_change: false,
        outside_working_hours: false,
        friday_afternoon: false,
        high_risk_day: false,
        business_critical: None,
        dependents: vec![],
        critical_dependents: vec![],
        service_critical: false,
        history: HistoryStats::default(),
        stable_error_rate: None,
        error_rate_max: 0.02,
        local_time: "Tue 10:00 UTC".into(),
    }
}

#[test]
fn a_calm_deploy_is_low_and_a_bad_one_is_critical() {
    let a = assess(&calm());
    assert_eq!((a.score, a.level), (2, Level::Low));
    assert!(a.mitigations.is_empty());
    assert_eq!(a.factors.len(), 5);

    let bad = Facts {
        hosts: 12,
        colocated_services: 3,
        image_change: true,
        outside_working_hours: true,
        friday_afternoon: true,
        high_risk_day: false,
        business_critical: None,
        dependents: vec!["api".into(), "web".into(), "mobile".into()],
        critical_dependents: vec!["api".into()],
        service_critical: false,
        history: HistoryStats {
            deployments: 10,
            failures: 3,
            rollbacks: 2,
            mean_time_to_recover: Some(Duration::from_secs(6 * 60)),
        },
        stable_error_rate: Some(0.01),
        error_rate_max: 0.02,
        local_time: "Fri 17:30 KST".into(),
    };
    let a = assess(&bad);
    // scope 22 + time 25 + deps 20 + history 6+2+2 + health 10 = 87
    assert_eq!(a.score, 87, "{a:#?}");
    assert_eq!(a.level, Level::Critical);
    assert_eq!(
        a.factors[1].detail,
        "Fri 17:30 KST: outside working hours, Friday afternoon"
    );
    assert!(a.mitigations.iter().any(|m| m.contains("approved")));
    assert!(a
        .summary()
        .starts_with("risk 87 critical (scope 22, time 25"));
}

#[test]
fn levels() {
    assert_eq!(Level::of(0), Level::Low);
    assert_eq!(Level::of(24), Level::Low);
    assert_eq!(Level::of(25), Level::Medium);
    assert_eq!(Level::of(50), Level::High);
    assert_eq!(Level::of(75), Level::Critical);
    assert_eq!(Level::of(100), Level::Critical);
}

fn facts() -> impl Strategy<Value = Facts> {
    (
        (0u32..40, 0u32..10, any::<bool>()),
        (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()),
        (0usize..12, 0usize..12, any::<bool>()),
        (
            0u32..50,
            0u32..50,
            0u32..50,
            proptest::option::of(0u64..10_000),
        ),
        proptest::option::of(0.0f64..1.0),
    )
        .prop_map(|(s, t, d, h, e)| {
            let deps: Vec<String> = (0..d.0).map(|i| format!("s{i}")).collect();
            let crit = deps.iter().take(d.1).cloned().collect();
            Facts {
                hosts: s.0,
                colocated_services: s.1,
                image_change: s.2,
                outside_working_hours: t.0,
                friday_afternoon: t.1,
                high_risk_day: t.2,
                business_critical: t.3.then(|| "Mon 11:00 - Mon 14:00".to_string()),
                dependents: deps,
                critical_dependents: crit,
                service_critical: d.2,
                history: HistoryStats {
                    deployments: h.0.max(h.1).max(h.2),
                    failures: h.1,
                    rollbacks: h.2,
                    mean_time_to_recover: h.3.map(Duration::from_secs),
                },
                stable_error_rate: e,
                error_rate_max: 0.02,
                local_time: "x".into(),
            }
        })
}

/// One way of making the facts worse.
fn worsen(mut f: Facts, how: u8, amount: u32) -> Facts {
    match how % 14 {
        0 => f.hosts += amount,
        1 => f.colocated_services += amount,
        2 => f.image_change = true,
        3 => f.outside_working_hours = true,
        4 => f.friday_afternoon = true,
        5 => f.high_risk_day = true,
        6 => f.business_critical = Some("w".into()),
        7 => f.dependents.push(format!("new{amount}")),
        8 => {
            if let Some(d) = f
                .dependents
                .iter()
                .find(|d| !f.critical_dependents.contains(d))
            {
                f.critical_dependents.push(d.clone());
            }
        }
        9 => f.service_critical = true,
        10 => f.history.failures = (f.history.failures + amount).min(f.history.deployments),
        11 => f.history.rollbacks = (f.history.rollbacks + amount).min(f.history.deployments),
        12 => {
            f.history.mean_time_to_recover = Some(
                f.history.mean_time_to_recover.unwrap_or_default()
                    + Duration::from_secs(u64::from(amount) * 30),
            )
        }
        _ => {
            f.stable_error_rate =
                Some(f.stable_error_rate.unwrap_or(0.0) + f64::from(amount) / 1000.0)
        }
    }
    f
}

proptest! {
    #[test]
    fn the_score_stays_in_range(f in facts()) {
        let a = assess(&f);
        prop_assert!(a.score <= 100);
        prop_assert_eq!(a.level, Level::of(a.score));
        for x in &a.factors {
            prop_assert!(x.points <= x.max);
        }
        let sum: u32 = a.factors.iter().map(|x| u32::from(x.points)).sum();
        prop_assert_eq!(u32::from(a.score), sum.min(100));
    }

    #[test]
    fn a_worse_fact_never_lowers_the_score(f in facts(), how in 0u8..14, amount in 1u32..20) {
        let before = assess(&f);
        let after = assess(&worsen(f.clone(), how, amount));
        prop_assert!(after.score >= before.score, "{} -> {} ({how})", before.score, after.score);
        for (b, a) in before.factors.iter().zip(&after.factors) {
            prop_assert!(a.points >= b.points, "{}: {} -> {}", b.name, b.points, a.points);
        }
    }
}
