use std::collections::BTreeMap;

use super::*;

fn cm(key: &str, value: &str) -> ConfigMap {
    ConfigMap {
        data: Some(BTreeMap::from([(key.to_string(), value.to_string())])),
        ..Default::default()
    }
}

#[test]
fn absent_configmap_or_key_means_defaults() {
    assert!(matches!(load(None, "filter.json"), Loaded::Defaults));
    assert!(matches!(
        load(Some(&cm("other", "{}")), "filter.json"),
        Loaded::Defaults
    ));
}

#[test]
fn valid_rules_are_loaded_and_invalid_ones_reported() {
    let ok = cm(
        "filter.json",
        r#"{"sources": {"falco": {"minSeverity": "high"}}}"#,
    );
    assert!(matches!(load(Some(&ok), "filter.json"), Loaded::Rules(_)));
    let bad = cm(
        "filter.json",
        r#"{"sources": {"falco": {"minSeverity": "loud"}}}"#,
    );
    match load(Some(&bad), "filter.json") {
        Loaded::Invalid(err) => assert!(err.to_string().contains("minSeverity"), "{err}"),
        other => panic!("{other:?}"),
    }
}
