//! The Lease objects the elector writes: taken, renewed, released. Each keeps the
//! `resourceVersion` of the Lease it was built from, so the apiserver refuses the write (409) if
//! someone else wrote in between.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;

use super::ElectionConfig;

/// `current` (or a new Lease) with `identity` as the new holder: `acquireTime` is now and
/// `leaseTransitions` grows by one over an existing Lease.
pub fn acquired(current: Option<&Lease>, config: &ElectionConfig, now: Timestamp) -> Lease {
    let mut lease = current.cloned().unwrap_or_else(|| new_lease(config));
    let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
    spec.lease_transitions = Some(match current {
        Some(_) => spec.lease_transitions.unwrap_or(0).saturating_add(1),
        None => 0,
    });
    spec.holder_identity = Some(config.identity.clone());
    spec.acquire_time = Some(MicroTime(now));
    spec.renew_time = Some(MicroTime(now));
    spec.lease_duration_seconds = Some(whole_seconds(config.lease_duration));
    lease
}

/// `current` (which names us) with a fresh `renewTime` and our lease duration.
pub fn renewed(current: &Lease, config: &ElectionConfig, now: Timestamp) -> Lease {
    let mut lease = current.clone();
    let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
    spec.renew_time = Some(MicroTime(now));
    spec.lease_duration_seconds = Some(whole_seconds(config.lease_duration));
    lease
}

/// `current` without a holder: the next candidate takes it without waiting for it to expire.
pub fn released(current: &Lease, now: Timestamp) -> Lease {
    let mut lease = current.clone();
    let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
    spec.holder_identity = None;
    spec.renew_time = Some(MicroTime(now));
    lease
}

fn new_lease(config: &ElectionConfig) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some(config.lease_name.clone()),
            namespace: Some(config.namespace.clone()),
            ..Default::default()
        },
        spec: Some(LeaseSpec::default()),
    }
}

/// `leaseDurationSeconds` is whole seconds: rounded up so that a holder is never considered
/// expired earlier than it expects.
fn whole_seconds(duration: Duration) -> i32 {
    let seconds = duration.as_secs() + u64::from(duration.subsec_nanos() > 0);
    i32::try_from(seconds.max(1)).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
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
}
