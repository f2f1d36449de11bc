//! The generated CRDs, checked field by field against what users and the apiserver rely on.

use serde_json::Value;

use super::*;

fn crd_json(name: &str) -> Value {
    let crd = all()
        .into_iter()
        .find(|c| c.metadata.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no CRD {name}"));
    serde_json::to_value(crd).unwrap()
}

fn version(crd: &Value) -> &Value {
    let versions = crd["spec"]["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 1, "exactly one version");
    &versions[0]
}

fn schema(crd: &Value) -> &Value {
    &version(crd)["schema"]["openAPIV3Schema"]
}

fn columns(crd: &Value) -> Vec<(String, String)> {
    version(crd)["additionalPrinterColumns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["jsonPath"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect()
}

fn rules(v: &Value) -> Vec<&str> {
    v["x-kubernetes-validations"]
        .as_array()
        .map(|a| a.iter().map(|r| r["rule"].as_str().unwrap()).collect())
        .unwrap_or_default()
}

#[test]
fn observation_identity() {
    let crd = crd_json("observations.zen.kube-zen.io");
    assert_eq!(crd["spec"]["group"], "zen.kube-zen.io");
    assert_eq!(crd["spec"]["scope"], "Namespaced");
    assert_eq!(crd["spec"]["names"]["kind"], "Observation");
    assert_eq!(crd["spec"]["names"]["plural"], "observations");
    assert_eq!(
        strings(&crd["spec"]["names"]["shortNames"]),
        ["obs", "obsv"]
    );
    let v = version(&crd);
    assert_eq!(v["name"], "v1alpha1");
    assert_eq!(v["served"], true);
    assert_eq!(v["storage"], true);
    assert_eq!(v["subresources"]["status"], serde_json::json!({}));
}

#[test]
fn observation_printer_columns() {
    let crd = crd_json("observations.zen.kube-zen.io");
    let names: Vec<String> = columns(&crd).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "Source",
            "Category",
            "Severity",
            "Type",
            "Resource",
            "Occurrences",
            "Resolved",
            "Age"
        ]
    );
    assert!(columns(&crd).contains(&("Occurrences".into(), ".status.occurrences".into())));
    assert!(columns(&crd).contains(&("Type".into(), ".spec.eventType".into())));
}

#[test]
fn observation_spec_schema() {
    let crd = crd_json("observations.zen.kube-zen.io");
    let spec = &schema(&crd)["properties"]["spec"];
    let mut required = strings(&spec["required"]);
    required.sort();
    assert_eq!(
        required,
        ["category", "detectedAt", "eventType", "severity", "source"]
    );
    let p = &spec["properties"];
    assert_eq!(p["source"]["pattern"], SOURCE_PATTERN);
    assert_eq!(p["source"]["maxLength"], SOURCE_MAX_LEN);
    assert_eq!(
        strings(&p["category"]["enum"]),
        [
            "security",
            "compliance",
            "performance",
            "operations",
            "cost"
        ]
    );
    let mut severities = strings(&p["severity"]["enum"]);
    severities.sort();
    assert_eq!(severities, ["critical", "high", "info", "low", "medium"]);
    assert_eq!(p["eventType"]["pattern"], "^[a-z0-9_-]+$");
    assert_eq!(p["detectedAt"]["format"], "date-time");
    assert_eq!(p["ttlSecondsAfterCreation"]["minimum"], 1.0);
    assert_eq!(p["ttlSecondsAfterCreation"]["maximum"], 31_536_000.0);
    assert_eq!(p["details"]["type"], "object");
    assert_eq!(p["details"]["x-kubernetes-preserve-unknown-fields"], true);
    for field in ["apiVersion", "kind", "name", "namespace"] {
        assert_eq!(
            p["resource"]["properties"][field]["type"], "string",
            "{field}"
        );
    }
    for field in ["title", "description", "fingerprint"] {
        assert_eq!(p[field]["type"], "string", "{field}");
    }
}

#[test]
fn observation_status_schema() {
    let crd = crd_json("observations.zen.kube-zen.io");
    let status = &schema(&crd)["properties"]["status"]["properties"];
    assert_eq!(status["occurrences"]["type"], "integer");
    assert_eq!(status["lastSeenAt"]["format"], "date-time");
    assert_eq!(status["resolvedAt"]["format"], "date-time");
}

#[test]
fn ingester_identity_and_columns() {
    let crd = crd_json("ingesters.zen.kube-zen.io");
    assert_eq!(crd["spec"]["names"]["kind"], "Ingester");
    assert_eq!(strings(&crd["spec"]["names"]["shortNames"]), ["ingester"]);
    assert_eq!(crd["spec"]["scope"], "Namespaced");
    let v = version(&crd);
    assert_eq!(v["name"], "v1alpha1");
    assert_eq!(v["subresources"]["status"], serde_json::json!({}));
    let names: Vec<String> = columns(&crd).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        ["Source", "Type", "Ready", "Reason", "Message", "Age"]
    );
    for (column, field) in [
        ("Ready", "status"),
        ("Reason", "reason"),
        ("Message", "message"),
    ] {
        assert!(
            columns(&crd).contains(&(
                column.into(),
                format!(".status.conditions[?(@.type==\"Ready\")].{field}")
            )),
            "{column}"
        );
    }
    let message = &v["additionalPrinterColumns"][4];
    assert_eq!(message["priority"], 1, "the message shows with -o wide");
}

#[test]
fn both_kinds_are_in_the_zen_category() {
    for name in ["ingesters.zen.kube-zen.io", "observations.zen.kube-zen.io"] {
        let crd = crd_json(name);
        assert_eq!(
            strings(&crd["spec"]["names"]["categories"]),
            ["zen"],
            "{name}"
        );
    }
}

/// Paths of schema properties without a description (what `kubectl explain` shows empty).
fn undescribed(path: &str, node: &Value, out: &mut Vec<String>) {
    if let Some(properties) = node["properties"].as_object() {
        for (key, child) in properties {
            let child_path = format!("{path}.{key}");
            if child["description"].as_str().is_none_or(str::is_empty) {
                out.push(child_path.clone());
            }
            undescribed(&child_path, child, out);
        }
    }
    for key in ["items", "additionalProperties"] {
        if node[key].is_object() {
            undescribed(&format!("{path}[]"), &node[key], out);
        }
    }
}

#[test]
fn every_field_has_a_description_for_kubectl_explain() {
    for name in ["ingesters.zen.kube-zen.io", "observations.zen.kube-zen.io"] {
        let crd = crd_json(name);
        let root = schema(&crd);
        let mut missing = Vec::new();
        for top in ["spec", "status"] {
            if root["properties"][top].is_object() {
                undescribed(top, &root["properties"][top], &mut missing);
            }
        }
        assert!(
            missing.is_empty(),
            "{name}: no description for {missing:#?}"
        );
    }
}

#[test]
fn ingester_spec_schema() {
    let crd = crd_json("ingesters.zen.kube-zen.io");
    let spec = &schema(&crd)["properties"]["spec"];
    let mut required = strings(&spec["required"]);
    required.sort();
    assert_eq!(required, ["ingester", "source"]);
    let p = &spec["properties"];
    assert_eq!(p["source"]["pattern"], SOURCE_PATTERN);
    assert_eq!(p["source"]["maxLength"], SOURCE_MAX_LEN);
    assert_eq!(strings(&p["ingester"]["enum"]), ["informer", "webhook"]);
    let gvr = &p["informer"]["properties"]["gvr"]["properties"];
    for field in ["group", "version", "resource"] {
        assert_eq!(gvr[field]["type"], "string", "{field}");
    }
    for field in ["namespace", "labelSelector", "fieldSelector"] {
        assert_eq!(
            p["informer"]["properties"][field]["type"], "string",
            "{field}"
        );
    }
    assert_eq!(
        strings(&p["webhook"]["properties"]["auth"]["properties"]["type"]["enum"]),
        ["none", "bearer", "basic"]
    );
    let norm = &p["normalization"]["properties"];
    for field in [
        "category",
        "eventType",
        "severityField",
        "severityMap",
        "fieldMapping",
        "resource",
    ] {
        assert!(norm[field].is_object(), "normalization.{field}");
    }
    let filters = &p["filters"]["properties"];
    for field in [
        "minSeverity",
        "includeNamespaces",
        "excludeNamespaces",
        "includeKinds",
        "excludeKinds",
        "includeEventTypes",
        "excludeEventTypes",
        "expression",
    ] {
        assert!(filters[field].is_object(), "filters.{field}");
    }
    for field in ["enabled", "window", "fields"] {
        assert!(
            p["deduplication"]["properties"][field].is_object(),
            "deduplication.{field}"
        );
    }
    assert_eq!(p["ttl"]["type"], "string");
    let dest = &p["destinations"]["items"]["properties"];
    assert_eq!(strings(&dest["type"]["enum"]), ["crd"]);
    assert_eq!(strings(&dest["value"]["enum"]), ["observations"]);
}

#[test]
fn ingester_cel_rules() {
    let crd = crd_json("ingesters.zen.kube-zen.io");
    let spec = &schema(&crd)["properties"]["spec"];
    assert_eq!(
        rules(spec),
        [
            "self.ingester != 'informer' || (has(self.informer) && has(self.informer.gvr))",
            "self.ingester != 'webhook' || has(self.webhook)",
        ]
    );
    let path = &spec["properties"]["webhook"]["properties"]["path"];
    let path_rules = rules(path);
    assert!(path_rules.contains(&"self.startsWith('/')"));
    for reserved in RESERVED_PATHS {
        assert!(
            path_rules[1].contains(&format!("'{reserved}'")),
            "{reserved} not reserved"
        );
    }
    let auth = &spec["properties"]["webhook"]["properties"]["auth"];
    assert_eq!(rules(auth).len(), 1);
    let source_rules = rules(&spec["properties"]["source"]);
    assert_eq!(source_rules.len(), 1);
    for reserved in crate::reserved::RESERVED_SOURCES {
        assert!(
            source_rules[0].contains(&format!("'{reserved}'")),
            "source {reserved} not reserved by the CRD"
        );
    }
}

/// The apiserver estimates each CEL rule's cost from the sizes of what it touches; unbounded
/// strings and lists make it refuse the CRD.
#[test]
fn everything_cel_touches_is_bounded() {
    let crd = crd_json("ingesters.zen.kube-zen.io");
    let p = &schema(&crd)["properties"]["spec"]["properties"];
    assert!(p["webhook"]["properties"]["path"]["maxLength"].is_u64());
    assert!(p["webhook"]["properties"]["auth"]["properties"]["secretName"]["maxLength"].is_u64());
    fn check_bounded(path: &str, v: &Value) {
        match v["type"].as_str() {
            Some("string") if v.get("enum").is_none() => {
                assert!(v.get("maxLength").is_some(), "{path} has no maxLength")
            }
            Some("array") => {
                assert!(v.get("maxItems").is_some(), "{path} has no maxItems");
                check_bounded(&format!("{path}[]"), &v["items"]);
            }
            Some("object") => {
                if let Some(props) = v["properties"].as_object() {
                    for (k, child) in props {
                        check_bounded(&format!("{path}.{k}"), child);
                    }
                }
                if v.get("additionalProperties").is_some() {
                    assert!(
                        v.get("maxProperties").is_some(),
                        "{path} has no maxProperties"
                    );
                }
            }
            _ => {}
        }
    }
    check_bounded("spec", &schema(&crd)["properties"]["spec"]);
}

#[test]
fn ingester_status_schema() {
    let crd = crd_json("ingesters.zen.kube-zen.io");
    let status = &schema(&crd)["properties"]["status"]["properties"];
    for field in [
        "conditions",
        "observedGeneration",
        "state",
        "lastError",
        "lastEventAt",
    ] {
        assert!(status[field].is_object(), "status.{field}");
    }
}

#[test]
fn yaml_documents_are_named_after_plurals() {
    let docs = yaml_documents().unwrap();
    let names: Vec<&str> = docs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["observations.yaml", "ingesters.yaml"]);
    let stream = join_documents(&docs);
    assert_eq!(stream.matches("---\n").count(), 2);
    assert!(stream.contains("name: observations.zen.kube-zen.io"));
}

#[test]
fn severity_map_is_bounded() {
    let crd = crd_json("ingesters.zen.kube-zen.io");
    let map = &schema(&crd)["properties"]["spec"]["properties"]["normalization"]["properties"]["severityMap"];
    assert_eq!(map["maxProperties"], 64);
}
