//! Shared by the fuzz targets (`mod common;`): a fixed clock and a sample event.

#![allow(dead_code)] // not every target uses every helper

use std::sync::LazyLock;

use k8s_openapi::jiff::Timestamp;
use zen_watcher_core::event::Event;
use zen_watcher_core::observation::ObservationSettings;
use zen_watcher_core::observation::target_namespace;
use zen_watcher_core::units::is_dns_label;

/// A fixed "now" so runs are reproducible.
pub fn now() -> Timestamp {
    Timestamp::from_second(1_795_687_200).expect("valid timestamp")
}

/// The event parsed from `tests/fixtures/falco/alert-critical.json`, for `matches`/`decide`.
pub static SAMPLE_EVENT: LazyLock<Event> = LazyLock::new(|| {
    let body = include_bytes!("../../tests/fixtures/falco/alert-critical.json");
    let mut events = zen_watcher_core::sources::falco::parse(body, now()).expect("fixture parses");
    events.remove(0)
});

/// `ops` is the watcher's namespace; Ingesters elsewhere are tenants.
pub fn settings() -> ObservationSettings {
    ObservationSettings {
        fallback_namespace: "zen-system".into(),
        default_ttl_seconds: 86_400,
        details_max_bytes: 32 * 1024,
        cluster_ingester_namespaces: vec!["zen-system".into()],
    }
}

/// Wherever a payload points, an accepted event's Observation has a name and a namespace the
/// apiserver takes (a DNS subdomain of at most 253 characters, a DNS label), so a hostile
/// payload can never turn into a write refused forever; and a tenant Ingester's events stay in
/// the tenant's namespace.
pub fn check_placement(event: &Event) {
    let name = zen_watcher_core::observation::name_of(event);
    assert!(
        name.len() <= 253 && name.split('.').all(is_dns_label),
        "Observation name {name:?} is not a DNS subdomain"
    );
    let settings = settings();
    let namespace = target_namespace(event, &settings);
    assert!(
        is_dns_label(namespace),
        "namespace {namespace:?} is not a DNS label"
    );
    if let Some(ingester) = &event.ingester
        && !settings
            .cluster_ingester_namespaces
            .contains(&ingester.namespace)
    {
        assert_eq!(
            namespace, ingester.namespace,
            "a tenant's event left its namespace"
        );
    }
}
