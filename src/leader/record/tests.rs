use super::*;

fn config() -> ElectionConfig {
    ElectionConfig {
        namespace: "zen-system".into(),
        lease_name: "zen-watcher-leader-election".into(),
        identity: "zen-0".into(),
        lease_duration: Duration::from_secs(15),
        renew_deadline: Duration::from_secs(10),
        retry_period: Duration::from_secs(2),
    }
}

fn now() -> Timestamp {
    Timestamp::from_second(1_800_000_000).unwrap()
}

fn existing(holder: Option<&str>, transitions: Option<i32>) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some("zen-watcher-leader-election".into()),
            namespace: Some("zen-system".into()),
            resource_version: Some("42".into()),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: holder.map(String::from),
            lease_duration_seconds: Some(60),
            lease_transitions: transitions,
            renew_time: Some(MicroTime(Timestamp::UNIX_EPOCH)),
            acquire_time: Some(MicroTime(Timestamp::UNIX_EPOCH)),
            ..Default::default()
        }),
    }
}

#[test]
fn a_new_lease_names_us_with_no_transitions() {
    let lease = acquired(None, &config(), now());
    assert_eq!(
        lease.metadata.name.as_deref(),
        Some("zen-watcher-leader-election")
    );
    assert_eq!(lease.metadata.namespace.as_deref(), Some("zen-system"));
    assert_eq!(lease.metadata.resource_version, None);
    let spec = lease.spec.unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some("zen-0"));
    assert_eq!(spec.lease_duration_seconds, Some(15));
    assert_eq!(spec.lease_transitions, Some(0));
    assert_eq!(spec.acquire_time, Some(MicroTime(now())));
    assert_eq!(spec.renew_time, Some(MicroTime(now())));
}

#[test]
fn taking_over_counts_a_transition_and_keeps_the_resource_version() {
    for (before, after) in [(Some(3), 4), (None, 1)] {
        let lease = acquired(Some(&existing(Some("zen-1"), before)), &config(), now());
        assert_eq!(lease.metadata.resource_version.as_deref(), Some("42"));
        let spec = lease.spec.unwrap();
        assert_eq!(spec.holder_identity.as_deref(), Some("zen-0"));
        assert_eq!(spec.lease_transitions, Some(after));
        assert_eq!(spec.acquire_time, Some(MicroTime(now())));
        assert_eq!(spec.lease_duration_seconds, Some(15));
    }
}

#[test]
fn renewing_changes_only_the_renew_time_and_duration() {
    let current = existing(Some("zen-0"), Some(3));
    let lease = renewed(&current, &config(), now());
    assert_eq!(lease.metadata, current.metadata);
    let (spec, before) = (lease.spec.unwrap(), current.spec.unwrap());
    assert_eq!(spec.renew_time, Some(MicroTime(now())));
    assert_eq!(spec.lease_duration_seconds, Some(15));
    assert_eq!(spec.acquire_time, before.acquire_time);
    assert_eq!(spec.lease_transitions, Some(3));
    assert_eq!(spec.holder_identity.as_deref(), Some("zen-0"));
}

#[test]
fn releasing_clears_the_holder_and_keeps_the_object() {
    let current = existing(Some("zen-0"), Some(3));
    let lease = released(&current, now());
    assert_eq!(lease.metadata, current.metadata);
    let spec = lease.spec.unwrap();
    assert_eq!(spec.holder_identity, None);
    assert_eq!(spec.lease_transitions, Some(3));
}

#[test]
fn durations_round_up_to_whole_seconds() {
    assert_eq!(whole_seconds(Duration::from_millis(500)), 1);
    assert_eq!(whole_seconds(Duration::ZERO), 1);
    assert_eq!(whole_seconds(Duration::from_millis(3001)), 4);
    assert_eq!(whole_seconds(Duration::from_secs(3)), 3);
    assert_eq!(whole_seconds(Duration::from_secs(u64::MAX)), i32::MAX);
}
