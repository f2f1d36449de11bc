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
mod tests {
    use super::*;
    use k8s_openapi::api::coordination::v1::LeaseSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;

    const OURS: Duration = Duration::from_secs(15);

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    fn held_by(holder: &str, renewed: i64) -> LeaseView {
        LeaseView {
            holder: Some(holder.into()),
            lease_duration: Some(OURS),
            renew_time: Some(at(renewed)),
            acquire_time: Some(at(renewed - 100)),
        }
    }

    fn follow(holder: &str, expires: i64) -> Action {
        Action::Follow {
            holder: holder.into(),
            expires_at: at(expires),
        }
    }

    #[test]
    fn a_follower_retries_at_expiry_when_that_comes_before_the_retry_period() {
        let retry = Duration::from_secs(2);
        assert_eq!(next_attempt_in(at(115), at(100), retry), retry);
        assert_eq!(
            next_attempt_in(at(115), at(114), retry),
            Duration::from_secs(1)
        );
        assert_eq!(
            next_attempt_in(at(115), at(115), retry),
            Duration::ZERO,
            "at expiry: at once"
        );
        assert_eq!(
            next_attempt_in(at(115), at(120), retry),
            Duration::ZERO,
            "past expiry (clock moved on): at once"
        );
    }

    #[test]
    fn no_lease_is_acquired() {
        assert_eq!(decide(None, "zen-0", at(0), OURS), Action::Acquire);
    }

    #[test]
    fn a_released_lease_is_acquired_even_if_recently_renewed() {
        for holder in [None, Some(String::new())] {
            let lease = LeaseView {
                holder,
                ..held_by("x", 0)
            };
            assert_eq!(decide(Some(&lease), "zen-0", at(1), OURS), Action::Acquire);
        }
    }

    #[test]
    fn an_expired_lease_of_another_holder_is_taken_over() {
        let lease = held_by("zen-1", 0);
        assert_eq!(decide(Some(&lease), "zen-0", at(16), OURS), Action::Acquire);
    }

    #[test]
    fn a_valid_lease_of_another_holder_is_followed() {
        let lease = held_by("zen-1", 0);
        assert_eq!(
            decide(Some(&lease), "zen-0", at(1), OURS),
            follow("zen-1", 15)
        );
    }

    #[test]
    fn our_own_lease_is_renewed_valid_or_expired() {
        let lease = held_by("zen-0", 0);
        assert_eq!(decide(Some(&lease), "zen-0", at(1), OURS), Action::Renew);
        assert_eq!(decide(Some(&lease), "zen-0", at(1000), OURS), Action::Renew);
    }

    #[test]
    fn without_renew_time_the_acquire_time_counts() {
        let lease = LeaseView {
            renew_time: None,
            ..held_by("zen-1", 0)
        };
        assert_eq!(
            decide(Some(&lease), "zen-0", at(-90), OURS),
            follow("zen-1", -85)
        );
        assert_eq!(
            decide(Some(&lease), "zen-0", at(-85), OURS),
            Action::Acquire
        );
    }

    #[test]
    fn without_any_time_the_lease_is_expired() {
        let lease = LeaseView {
            renew_time: None,
            acquire_time: None,
            ..held_by("zen-1", 0)
        };
        assert_eq!(decide(Some(&lease), "zen-0", at(0), OURS), Action::Acquire);
    }

    #[test]
    fn the_lease_duration_of_the_lease_wins_over_ours() {
        let lease = LeaseView {
            lease_duration: Some(Duration::from_secs(60)),
            ..held_by("zen-1", 0)
        };
        assert_eq!(
            decide(Some(&lease), "zen-0", at(30), OURS),
            follow("zen-1", 60)
        );
        let lease = LeaseView {
            lease_duration: Some(Duration::from_secs(5)),
            ..held_by("zen-1", 0)
        };
        assert_eq!(decide(Some(&lease), "zen-0", at(6), OURS), Action::Acquire);
    }

    #[test]
    fn ours_applies_when_the_lease_has_no_duration() {
        let lease = LeaseView {
            lease_duration: None,
            ..held_by("zen-1", 0)
        };
        assert_eq!(
            decide(Some(&lease), "zen-0", at(14), OURS),
            follow("zen-1", 15)
        );
        assert_eq!(decide(Some(&lease), "zen-0", at(15), OURS), Action::Acquire);
    }

    #[test]
    fn exactly_at_expiry_the_lease_is_expired() {
        let lease = held_by("zen-1", 0);
        let just_before = at(15).checked_sub(Duration::from_micros(1)).unwrap();
        assert_eq!(
            decide(Some(&lease), "zen-0", just_before, OURS),
            follow("zen-1", 15)
        );
        assert_eq!(decide(Some(&lease), "zen-0", at(15), OURS), Action::Acquire);
    }

    #[test]
    fn a_renew_time_ahead_of_our_clock_is_followed() {
        let lease = held_by("zen-1", 10);
        assert_eq!(
            decide(Some(&lease), "zen-0", at(0), OURS),
            follow("zen-1", 25)
        );
    }

    #[test]
    fn a_huge_lease_duration_never_expires() {
        let lease = LeaseView {
            lease_duration: Some(Duration::from_secs(u64::MAX / 4)),
            ..held_by("zen-1", 0)
        };
        assert_eq!(
            decide(Some(&lease), "zen-0", at(1_000_000), OURS),
            Action::Follow {
                holder: "zen-1".into(),
                expires_at: Timestamp::MAX
            }
        );
    }

    #[test]
    fn the_view_reads_the_spec() {
        let lease = Lease {
            spec: Some(LeaseSpec {
                holder_identity: Some("zen-1".into()),
                lease_duration_seconds: Some(15),
                renew_time: Some(MicroTime(at(0))),
                acquire_time: Some(MicroTime(at(-100))),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(LeaseView::of(&lease), held_by("zen-1", 0));
    }

    #[test]
    fn the_view_ignores_non_positive_durations_and_a_missing_spec() {
        for seconds in [0, -5] {
            let lease = Lease {
                spec: Some(LeaseSpec {
                    lease_duration_seconds: Some(seconds),
                    ..Default::default()
                }),
                ..Default::default()
            };
            assert_eq!(LeaseView::of(&lease).lease_duration, None);
        }
        assert_eq!(LeaseView::of(&Lease::default()), LeaseView::default());
    }
}
