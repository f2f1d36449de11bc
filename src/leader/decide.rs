//! The pure election decision: what a replica does next, given the Lease it read, its own
//! identity and the wall clock.
//!
//! The times in a Lease were written by other replicas from their own clocks; like client-go we
//! compare `renewTime + leaseDurationSeconds` with our wall clock, so this assumes the replicas'
//! clocks are roughly in sync (well within `lease duration - renew deadline`).

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::jiff::Timestamp;

/// The fields of a Lease the decision reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeaseView {
    /// `None` or empty: nobody holds it (never taken or released).
    pub holder: Option<String>,
    /// `leaseDurationSeconds` when positive.
    pub lease_duration: Option<Duration>,
    pub renew_time: Option<Timestamp>,
    pub acquire_time: Option<Timestamp>,
}

impl LeaseView {
    pub fn of(lease: &Lease) -> Self {
        let Some(spec) = &lease.spec else {
            return Self::default();
        };
        Self {
            holder: spec.holder_identity.clone(),
            lease_duration: spec
                .lease_duration_seconds
                .and_then(|s| u64::try_from(s).ok())
                .filter(|&s| s > 0)
                .map(Duration::from_secs),
            renew_time: spec.renew_time.as_ref().map(|t| t.0),
            acquire_time: spec.acquire_time.as_ref().map(|t| t.0),
        }
    }
}

/// What to do with the Lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Create it, or take over a released or expired one (the holder changes).
    Acquire,
    /// It names us: write a fresh `renewTime`.
    Renew,
    /// Someone else holds it until `expires_at` (by our clock).
    Follow {
        holder: String,
        expires_at: Timestamp,
    },
}

/// Decides from the Lease (`None`: it does not exist) what `identity` does at `now`.
///
/// The Lease's own `leaseDurationSeconds` wins over `lease_duration` (ours): the holder promised
/// that one. A holder that wrote neither `renewTime` nor `acquireTime` never said when it would
/// expire and is treated as expired. At exactly `renewTime + duration` the Lease is expired.
pub fn decide(
    lease: Option<&LeaseView>,
    identity: &str,
    now: Timestamp,
    lease_duration: Duration,
) -> Action {
    let Some(lease) = lease else {
        return Action::Acquire;
    };
    let holder = match lease.holder.as_deref() {
        None | Some("") => return Action::Acquire,
        Some(holder) => holder,
    };
    if holder == identity {
        return Action::Renew;
    }
    match expires_at(lease, lease_duration) {
        Some(expires_at) if now < expires_at => Action::Follow {
            holder: holder.to_string(),
            expires_at,
        },
        _ => Action::Acquire,
    }
}

/// How long a follower waits before its next attempt: the retry period, or less when the
/// Lease expires sooner, so a holder that died is replaced right at expiry rather than up to a
/// retry period later. (Renewals and releases wake followers earlier, through the Lease watch.)
pub fn next_attempt_in(expires_at: Timestamp, now: Timestamp, retry_period: Duration) -> Duration {
    let until_expiry = now
        .duration_until(expires_at)
        .try_into()
        .unwrap_or(Duration::ZERO);
    until_expiry.min(retry_period)
}

fn expires_at(lease: &LeaseView, ours: Duration) -> Option<Timestamp> {
    let since = lease.renew_time.or(lease.acquire_time)?;
    let duration = lease.lease_duration.unwrap_or(ours);
    // Past the end of time: valid for ever rather than expired.
    Some(since.checked_add(duration).unwrap_or(Timestamp::MAX))
}

#[cfg(test)]
mod tests;
