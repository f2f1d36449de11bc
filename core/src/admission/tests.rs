use super::*;
use crate::crd::Severity;

fn falco(priority: &str) -> Event {
    let body = format!(
        r#"{{"rule":"Shell","priority":"{priority}","output_fields":{{"k8s.ns.name":"shop","k8s.pod.name":"web-1"}}}}"#
    );
    crate::sources::falco::parse(body.as_bytes(), "2026-11-26T10:00:00Z".parse().unwrap())
        .unwrap()
        .remove(0)
}

fn admission() -> Admission<()> {
    Admission::new(NonZeroUsize::new(100).unwrap(), Duration::from_secs(60))
}

fn written(event: &Event) -> Option<Settled> {
    Some(Settled {
        observation: ObservationRef {
            namespace: "shop".into(),
            name: event.fingerprint.clone(),
        },
        delivery: None,
    })
}

#[test]
fn filtered_events_never_reach_the_dedup_cache() {
    let mut a = admission();
    let f = FilterConfig::default();
    let t = Instant::now();
    let low = falco("Notice");
    assert_eq!(low.severity, Severity::Low);
    assert_eq!(
        a.admit(&f, &low, None, t, || ()),
        Err(Verdict::Filtered {
            reason: DropReason::MinSeverity,
            by: RuleScope::Global
        })
    );
    assert!(a.dedup.is_empty());
    let critical = falco("Critical");
    let Ok(Dedup::New(ticket)) = a.admit(&f, &critical, None, t, || ()) else {
        panic!()
    };
    a.settle(&IdentityKey::of(&critical), ticket, written(&critical));
    assert_eq!(a.admit(&f, &critical, None, t, || ()), Ok(Dedup::Duplicate));
}

#[test]
fn ingester_rules_set_the_window() {
    let mut a = admission();
    let t = Instant::now();
    let e = falco("Error");
    let key = IdentityKey::of(&e);
    let off = IngesterRules {
        dedup_enabled: false,
        ..Default::default()
    };
    for _ in 0..2 {
        assert_eq!(
            a.deduplicate(&key, Some(&off), t, false, || ()),
            Dedup::New(0)
        );
    }
    let short = IngesterRules {
        dedup_enabled: true,
        dedup_window: Some(Duration::from_secs(1)),
        ..Default::default()
    };
    let Dedup::New(ticket) = a.deduplicate(&key, Some(&short), t, false, || ()) else {
        panic!()
    };
    a.settle(&key, ticket, written(&e));
    assert_eq!(
        a.deduplicate(
            &key,
            Some(&short),
            t + Duration::from_millis(500),
            false,
            || ()
        ),
        Dedup::Duplicate
    );
    assert!(matches!(
        a.deduplicate(&key, Some(&short), t + Duration::from_secs(2), false, || ()),
        Dedup::New(_)
    ));
}

#[test]
fn a_failed_write_is_forgotten() {
    let mut a = admission();
    let t = Instant::now();
    let e = falco("Error");
    let key = IdentityKey::of(&e);
    let Dedup::New(ticket) = a.deduplicate(&key, None, t, false, || ()) else {
        panic!()
    };
    a.settle(&key, ticket, None);
    assert!(matches!(
        a.deduplicate(&key, None, t, false, || ()),
        Dedup::New(_)
    ));
}

#[test]
fn identity_keys_name_their_source() {
    assert_eq!(IdentityKey::new("falco", "[\"x\"]").source(), "falco");
    assert_ne!(IdentityKey::new("a", "bc"), IdentityKey::new("ab", "c"));
}
