use super::*;

const MINUTE: Duration = Duration::from_secs(60);

fn cache(size: usize) -> DedupCache<&'static str> {
    DedupCache::new(NonZeroUsize::new(size).unwrap())
}

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + seconds).unwrap()
}

fn settled(name: &str, delivery: Option<DeliveryId>) -> Option<Settled> {
    Some(Settled {
        observation: ObservationRef {
            namespace: "shop".into(),
            name: name.into(),
        },
        delivery,
    })
}

fn id(text: &str) -> DeliveryId {
    DeliveryId::of_payload(text.as_bytes())
}

/// Checks `key` as new and settles it as written.
fn write(c: &mut DedupCache<&'static str>, key: &str, now: Instant) {
    let Dedup::New(ticket) = c.check(key, MINUTE, now, false, || "w") else {
        panic!("{key} is not new");
    };
    c.settle(key, ticket, settled(key, Some(id(key))));
}

#[test]
fn a_repeat_of_a_pending_write_waits_for_it() {
    let mut c = cache(10);
    let t0 = Instant::now();
    let Dedup::New(ticket) = c.check("a", MINUTE, t0, false, || "first") else {
        panic!()
    };
    assert_eq!(
        c.check("a", MINUTE, t0, false, || "second"),
        Dedup::Pending("first"),
        "the first event's waiter"
    );
    c.settle("a", ticket, settled("a", None));
    assert_eq!(c.check("a", MINUTE, t0, false, || "x"), Dedup::Duplicate);
}

#[test]
fn a_failed_write_lets_the_retry_through() {
    let mut c = cache(10);
    let t0 = Instant::now();
    let Dedup::New(ticket) = c.check("a", MINUTE, t0, false, || "w") else {
        panic!()
    };
    c.settle("a", ticket, None);
    assert!(matches!(
        c.check("a", MINUTE, t0, false, || "w"),
        Dedup::New(_)
    ));
}

#[test]
fn a_stale_ticket_settles_nothing() {
    let mut c = cache(10);
    let t0 = Instant::now();
    let Dedup::New(old) = c.check("a", MINUTE, t0, false, || "w") else {
        panic!()
    };
    c.forget("a");
    let Dedup::New(new) = c.check("a", MINUTE, t0, false, || "w") else {
        panic!()
    };
    assert_ne!(old, new);
    c.settle("a", old, None);
    assert_eq!(
        c.check("a", MINUTE, t0, false, || "w"),
        Dedup::Pending("w"),
        "the old write's failure does not remove the new write's entry"
    );
    c.settle("a", new, settled("a", None));
    assert_eq!(c.check("a", MINUTE, t0, false, || "w"), Dedup::Duplicate);
}

#[test]
fn repeats_within_the_window_are_duplicates_and_it_restarts_after() {
    let mut c = cache(10);
    let t0 = Instant::now();
    write(&mut c, "a", t0);
    assert_eq!(
        c.check("a", MINUTE, t0 + Duration::from_secs(59), false, || "w"),
        Dedup::Duplicate
    );
    assert!(
        matches!(
            c.check("a", MINUTE, t0 + MINUTE, false, || "w"),
            Dedup::New(_)
        ),
        "expired at exactly the window"
    );
}

#[test]
fn a_fresh_check_rewrites_a_written_entry_but_still_waits_for_a_pending_one() {
    let mut c = cache(10);
    let t0 = Instant::now();
    write(&mut c, "a", t0);
    assert!(matches!(
        c.check("a", MINUTE, t0, true, || "w"),
        Dedup::New(_)
    ));
    assert_eq!(c.check("a", MINUTE, t0, true, || "x"), Dedup::Pending("w"));
}

#[test]
fn windows_can_differ_per_event() {
    let mut c = cache(10);
    let t0 = Instant::now();
    let five = Duration::from_secs(5);
    let Dedup::New(t) = c.check("a", five, t0, false, || "w") else {
        panic!()
    };
    c.settle("a", t, settled("a", None));
    assert!(matches!(
        c.check("a", five, t0 + Duration::from_secs(6), false, || "w"),
        Dedup::New(_)
    ));
}

#[test]
fn a_zero_window_disables_the_cache() {
    let mut c = cache(10);
    let t0 = Instant::now();
    assert_eq!(
        c.check("a", Duration::ZERO, t0, false, || "w"),
        Dedup::New(0)
    );
    c.settle("a", 0, settled("a", None));
    assert_eq!(
        c.check("a", Duration::ZERO, t0, false, || "w"),
        Dedup::New(0)
    );
    assert!(c.is_empty());
}

#[test]
fn least_recently_used_entries_are_evicted_at_the_bound() {
    let mut c = cache(2);
    let t0 = Instant::now();
    write(&mut c, "a", t0);
    write(&mut c, "b", t0);
    assert_eq!(c.check("a", MINUTE, t0, false, || "w"), Dedup::Duplicate);
    write(&mut c, "c", t0); // evicts b
    assert_eq!(c.len(), 2);
    assert_eq!(c.check("a", MINUTE, t0, false, || "w"), Dedup::Duplicate);
    assert!(
        matches!(c.check("b", MINUTE, t0, false, || "w"), Dedup::New(_)),
        "b was evicted"
    );
}

#[test]
fn the_bound_holds_under_many_keys() {
    let mut c = cache(100);
    let t0 = Instant::now();
    for i in 0..10_000 {
        write(&mut c, &format!("k{i}"), t0);
    }
    assert_eq!(c.len(), 100);
}

#[test]
fn suppressed_recurrences_are_kept_once_per_delivery_until_taken() {
    let mut c = cache(10);
    let t0 = Instant::now();
    write(&mut c, "a", t0);
    assert!(!c.recur("a", id("a"), at(0)), "the delivery that wrote it");
    assert!(c.recur("a", id("a2"), at(2)));
    assert!(!c.recur("a", id("a2"), at(2)), "a re-send");
    assert!(c.recur("a", id("a3"), at(1)));
    assert!(!c.recur("missing", id("x"), at(1)), "nothing written");
    let taken = c.take_recurrences();
    assert_eq!(taken.len(), 1);
    let (observation, recurrences) = &taken[0];
    assert_eq!(observation.name, "a");
    assert_eq!(recurrences.deliveries, vec![id("a2"), id("a3")]);
    assert_eq!(recurrences.last_seen, Some(at(2)));
    assert!(c.take_recurrences().is_empty(), "taken once");
    assert!(c.recur("a", id("a4"), at(3)), "counting starts again");
    assert_eq!(c.take_recurrences()[0].1.deliveries, vec![id("a4")]);
}

#[test]
fn recurrences_survive_eviction_expiry_and_forgetting() {
    let mut c = cache(1);
    let t0 = Instant::now();
    write(&mut c, "a", t0);
    c.recur("a", id("a2"), at(1));
    write(&mut c, "b", t0); // evicts a
    c.recur("b", id("b2"), at(1));
    let Dedup::New(_) = c.check("b", MINUTE, t0 + MINUTE, false, || "w") else {
        panic!()
    };
    let mut names: Vec<String> = c
        .take_recurrences()
        .into_iter()
        .map(|(o, _)| o.name)
        .collect();
    names.sort();
    assert_eq!(names, ["a", "b"]);
}

#[test]
fn deliveries_beyond_the_bound_are_counted_without_ids() {
    let mut c = cache(10);
    let t0 = Instant::now();
    write(&mut c, "a", t0);
    for i in 0..RECENT_DELIVERIES + 5 {
        assert!(c.recur("a", id(&format!("d{i}")), at(1)));
    }
    let (_, r) = c.take_recurrences().remove(0);
    assert_eq!(r.deliveries.len(), RECENT_DELIVERIES);
    assert_eq!(r.uncounted_ids, 5);
    assert_eq!(r.len(), RECENT_DELIVERIES as u64 + 5);
}

#[test]
fn failed_flushes_are_given_back_and_merged_up_to_a_limit() {
    let mut c = cache(10);
    let t0 = Instant::now();
    write(&mut c, "a", t0);
    c.recur("a", id("a2"), at(1));
    let taken = c.take_recurrences();
    assert_eq!(c.restore_recurrences(taken, 1), 0);
    c.recur("a", id("a3"), at(2));
    let taken = c.take_recurrences();
    assert_eq!(taken.len(), 2, "the given-back batch and the new one");
    assert_eq!(c.restore_recurrences(taken, 1), 0, "merged by Observation");
    let merged = c.take_recurrences();
    assert_eq!(merged.len(), 1);
    assert_eq!(merged[0].1.deliveries, vec![id("a2"), id("a3")]);

    let other = Recurrences {
        deliveries: vec![id("z")],
        uncounted_ids: 2,
        last_seen: Some(at(1)),
    };
    let observation = |name: &str| ObservationRef {
        namespace: "shop".into(),
        name: name.into(),
    };
    let lost = c.restore_recurrences(
        vec![
            (observation("a"), merged[0].1.clone()),
            (observation("z"), other),
        ],
        1,
    );
    assert_eq!(lost, 3, "beyond the limit, counted as lost");
}

#[test]
fn a_waiter_whose_entry_is_gone_still_has_its_recurrence_kept() {
    let mut c = cache(10);
    let t0 = Instant::now();
    let observation = ObservationRef {
        namespace: "shop".into(),
        name: "a".into(),
    };
    write(&mut c, "a", t0);
    assert!(
        c.recur_at("a", &observation, id("a2"), at(1)),
        "entry written: normal path"
    );
    c.forget("a");
    assert!(
        c.recur_at("a", &observation, id("a3"), at(2)),
        "entry gone: kept aside"
    );
    assert!(
        !c.recur_at("a", &observation, id("a3"), at(2)),
        "a re-send, even aside"
    );
    let taken = c.take_recurrences();
    assert_eq!(taken.len(), 1, "one Observation");
    assert_eq!(taken[0].1.deliveries, vec![id("a2"), id("a3")]);
}
