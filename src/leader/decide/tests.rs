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
