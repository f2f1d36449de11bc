use super::*;

#[test]
fn severity_parses_any_case() {
    assert_eq!("HIGH".parse(), Ok(Severity::High));
    assert_eq!("Critical".parse(), Ok(Severity::Critical));
    assert_eq!(" info ".parse(), Ok(Severity::Info));
    assert!("warning".parse::<Severity>().is_err());
}

#[test]
fn severity_orders_from_info_to_critical() {
    assert!(Severity::Critical > Severity::High);
    assert!(Severity::Low > Severity::Info);
}
