use super::*;

#[test]
fn severity_parses_any_case() {
    assert_eq!("HIGH".parse(), Ok(Severity::High));
    assert_eq!("Critical".parse(), Ok(Severity::Critical));
    assert_eq!(" info ".parse(), Ok(Severity::Info));
    assert!("warning".parse::<Severity>().is_err());
}

#[test]
fn from_name_takes_each_name_in_any_case_and_nothing_else() {
    for severity in Severity::ALL {
        let name = severity.as_str();
        assert_eq!(Severity::from_name(name), Some(severity));
        assert_eq!(
            Severity::from_name(&name.to_ascii_uppercase()),
            Some(severity)
        );
        assert_eq!(name.parse(), Ok(severity));
    }
    assert_eq!(Severity::from_name("Medium"), Some(Severity::Medium));
    for other in ["", "warning", "unknown", " high", "highest"] {
        assert_eq!(Severity::from_name(other), None, "{other:?}");
    }
}

#[test]
fn severity_orders_from_info_to_critical() {
    assert!(Severity::Critical > Severity::High);
    assert!(Severity::Low > Severity::Info);
}

#[test]
fn category_from_name_takes_each_name_in_any_case_and_nothing_else() {
    for category in Category::ALL {
        let name = category.as_str();
        assert_eq!(Category::from_name(name), Some(category));
        assert_eq!(
            Category::from_name(&name.to_ascii_uppercase()),
            Some(category)
        );
    }
    for other in ["", "secur", " cost", "costs", "ops"] {
        assert_eq!(Category::from_name(other), None, "{other:?}");
    }
}
