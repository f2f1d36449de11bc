use super::*;

#[test]
fn a_source_is_full_at_its_limit() {
    let cap = SourceCap::new(2);
    assert!(cap.reserve("falco"));
    assert!(!cap.full("falco"));
    assert!(cap.reserve("falco"));
    assert!(cap.full("falco"));
    assert!(!cap.reserve("falco"));
    assert!(cap.reserve("trivy"), "per source");
    cap.release("falco");
    assert!(cap.reserve("falco"), "a released reservation frees room");
}

#[test]
fn the_census_counts_an_ingesters_observations_under_the_ingester() {
    let item = |labels: &[(&str, &str)]| -> BTreeMap<String, String> {
        labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let mut counts = HashMap::new();
    count(&mut counts, &item(&[("source", "falco")]));
    count(
        &mut counts,
        &item(&[("source", "falco"), (INGESTER_LABEL, "ingester-1")]),
    );
    count(
        &mut counts,
        &item(&[("source", "argo"), (INGESTER_LABEL, "ingester-1")]),
    );
    count(&mut counts, &item(&[]));
    assert_eq!(
        counts,
        HashMap::from([("falco".to_string(), 1), ("ingester-1".to_string(), 2)])
    );
}

#[test]
fn a_census_replaces_local_counts() {
    let cap = SourceCap::new(2);
    cap.reserve("falco");
    cap.reserve("falco");
    cap.replace(HashMap::from([("falco".to_string(), 1)]));
    assert!(!cap.full("falco"), "GC deleted some");
}
