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
mod tests;
