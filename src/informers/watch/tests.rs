use super::*;

fn key(name: &str) -> ObjectKey {
    ObjectKey {
        namespace: Some("shop".into()),
        name: name.into(),
    }
}

#[test]
fn retries_back_off_and_clear() {
    let mut r = Retries::default();
    let t0 = Instant::now();
    assert_eq!(r.next(), None);
    r.schedule(key("a"), t0);
    assert_eq!(r.next(), Some(t0 + RETRY_FIRST));
    assert!(r.take_due(t0).is_empty());
    assert_eq!(r.take_due(t0 + RETRY_FIRST), [key("a")]);
    r.schedule(key("a"), t0);
    assert_eq!(r.next(), Some(t0 + RETRY_FIRST * 2), "doubled");
    for _ in 0..20 {
        r.schedule(key("a"), t0);
    }
    assert_eq!(r.next(), Some(t0 + RETRY_MAX), "bounded");
    r.schedule(key("b"), t0);
    assert_eq!(r.next(), Some(t0 + RETRY_FIRST), "the earliest of all");
    r.clear(&key("b"));
    r.clear(&key("a"));
    assert_eq!(r.next(), None);
}
