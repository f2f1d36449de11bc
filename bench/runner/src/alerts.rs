//! Distinct Falco alerts built from the benchmark's alert (bench/falco-alert.json).

use serde_json::{Value, json};

const TEMPLATE: &str = include_str!("../../falco-alert.json");

/// Alert `i` about pod `bench-<i>` in `namespace`: every `i` has its own fingerprint, so its own
/// Observation.
pub fn distinct(namespace: &str, i: usize) -> anyhow::Result<Vec<u8>> {
    let mut alert: Value = serde_json::from_str(TEMPLATE)?;
    let pod = format!("bench-{i}");
    alert["output_fields"]["k8s.ns.name"] = json!(namespace);
    alert["output_fields"]["k8s.pod.name"] = json!(pod);
    alert["output_fields"]["container.id"] = json!(format!("{i:012x}"));
    alert["output"] = json!(format!(
        "10:00:00.000000000: Critical A shell was spawned in a container with an attached terminal (user=root container_id={i:012x} k8s.ns={namespace} k8s.pod={pod} shell=bash)"
    ));
    Ok(serde_json::to_vec(&alert)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;

    #[test]
    fn each_alert_parses_with_its_own_fingerprint() {
        let now = Timestamp::now();
        let fingerprints: std::collections::HashSet<String> = (0..50)
            .map(|i| {
                let events =
                    zen_watcher::sources::falco::parse(&distinct("ns", i).unwrap(), now).unwrap();
                assert_eq!(events.len(), 1);
                events[0].fingerprint.clone()
            })
            .collect();
        assert_eq!(fingerprints.len(), 50);
    }
}
