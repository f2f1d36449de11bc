use super::*;

#[test]
fn zero_is_unlimited() {
    let limiter = RateLimiter::new(0);
    for _ in 0..1000 {
        assert!(limiter.check("/falco/webhook").is_ok());
    }
}

#[test]
fn burst_then_refill_per_endpoint() {
    let limiter = RateLimiter::new(2);
    let t = Instant::now();
    assert!(limiter.check_at("/a", t).is_ok());
    assert!(limiter.check_at("/a", t).is_ok());
    let wait = limiter.check_at("/a", t).unwrap_err();
    assert!(wait > Duration::ZERO && wait <= Duration::from_millis(500));
    assert!(
        limiter.check_at("/b", t).is_ok(),
        "endpoints have their own bucket"
    );
    assert!(
        limiter
            .check_at("/a", t + Duration::from_millis(500))
            .is_ok()
    );
    assert!(
        limiter
            .check_at("/a", t + Duration::from_millis(500))
            .is_err()
    );
}
