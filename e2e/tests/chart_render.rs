//! What `helm template` renders for the chart's availability and operations objects: Service
//! with the named ports, PodDisruptionBudget (only with several replicas), HPA, NetworkPolicy,
//! ServiceMonitor, PrometheusRule and the filter ConfigMap; and that values.schema.json
//! rejects misspelt keys and wrong types. No cluster needed.

use std::process::Output;

use serde_json::Value;
use zen_watcher_e2e::chart::find;

const NS: &str = "zen-system";

fn run_helm(args: &[&str]) -> Output {
    zen_watcher_e2e::chart::helm_output(None, args).unwrap()
}

/// `helm template` of the chart with `webhook.existingSecret` (so `lookup` is not needed) and
/// `extra` flags.
fn template(extra: &[&str]) -> Output {
    let mut args = vec!["--set", "webhook.existingSecret=x"];
    args.extend_from_slice(extra);
    zen_watcher_e2e::chart::template(NS, &args).unwrap()
}

/// The rendered documents, with `webhook.existingSecret` (so `lookup` is not needed).
fn render(extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["--set", "webhook.existingSecret=x"];
    args.extend_from_slice(extra);
    zen_watcher_e2e::chart::render(NS, &args)
}

fn one<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let found = find(docs, kind);
    assert_eq!(found.len(), 1, "exactly one {kind}");
    found[0]
}

fn selector_labels(docs: &[Value]) -> Value {
    one(docs, "Deployment")["spec"]["selector"]["matchLabels"].clone()
}

#[test]
fn defaults_render_three_replicas_a_service_with_named_ports_and_a_pdb() {
    let docs = render(&[]);
    let deploy = one(&docs, "Deployment");
    assert_eq!(deploy["spec"]["replicas"], 3);

    let svc = one(&docs, "Service");
    assert_eq!(svc["spec"]["type"], "ClusterIP");
    assert_eq!(svc["spec"]["selector"], selector_labels(&docs));
    let ports = svc["spec"]["ports"].as_array().expect("ports");
    for name in ["webhook", "metrics"] {
        let port = ports
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("Service port {name}"));
        assert_eq!(port["targetPort"], name, "{name} targets the named port");
    }
    // The named target ports exist on the container.
    let container_ports = &deploy["spec"]["template"]["spec"]["containers"][0]["ports"];
    for name in ["webhook", "metrics"] {
        assert!(
            container_ports
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == name),
            "container port {name}"
        );
    }

    let pdb = one(&docs, "PodDisruptionBudget");
    assert_eq!(pdb["apiVersion"], "policy/v1");
    assert_eq!(pdb["spec"]["maxUnavailable"], 1);
    assert_eq!(
        pdb["spec"]["selector"]["matchLabels"],
        selector_labels(&docs)
    );

    for kind in [
        "HorizontalPodAutoscaler",
        "NetworkPolicy",
        "ServiceMonitor",
        "PrometheusRule",
        "ConfigMap",
    ] {
        assert!(find(&docs, kind).is_empty(), "{kind} rendered by default");
    }
}

#[test]
fn a_single_replica_gets_no_pdb() {
    let docs = render(&["--set", "replicaCount=1"]);
    assert_eq!(one(&docs, "Deployment")["spec"]["replicas"], 1);
    assert!(find(&docs, "PodDisruptionBudget").is_empty());

    let docs = render(&["--set", "podDisruptionBudget.enabled=false"]);
    assert!(find(&docs, "PodDisruptionBudget").is_empty());

    // Autoscaled: minReplicas decides.
    let docs = render(&[
        "--set",
        "replicaCount=1",
        "--set",
        "autoscaling.enabled=true",
        "--set",
        "autoscaling.minReplicas=1",
    ]);
    assert!(find(&docs, "PodDisruptionBudget").is_empty());
    let docs = render(&[
        "--set",
        "replicaCount=1",
        "--set",
        "autoscaling.enabled=true",
    ]);
    assert_eq!(find(&docs, "PodDisruptionBudget").len(), 1);
}

#[test]
fn autoscaling_renders_an_hpa_and_drops_replicas() {
    let docs = render(&["--set", "autoscaling.enabled=true"]);
    let hpa = one(&docs, "HorizontalPodAutoscaler");
    assert_eq!(hpa["apiVersion"], "autoscaling/v2");
    assert_eq!(hpa["spec"]["minReplicas"], 3);
    assert_eq!(hpa["spec"]["maxReplicas"], 6);
    assert_eq!(hpa["spec"]["scaleTargetRef"]["kind"], "Deployment");
    assert_eq!(hpa["spec"]["scaleTargetRef"]["name"], "zen-watcher");
    assert_eq!(
        hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
        70
    );
    assert!(one(&docs, "Deployment")["spec"].get("replicas").is_none());
}

#[test]
fn network_policy_restricts_ingress_to_the_named_ports() {
    let docs = render(&["--set", "networkPolicy.enabled=true"]);
    let np = one(&docs, "NetworkPolicy");
    assert_eq!(
        np["spec"]["podSelector"]["matchLabels"],
        selector_labels(&docs)
    );
    assert_eq!(np["spec"]["policyTypes"], serde_json::json!(["Ingress"]));
    let ingress = np["spec"]["ingress"].as_array().unwrap();
    let ports: Vec<&Value> = ingress.iter().map(|r| &r["ports"][0]["port"]).collect();
    assert_eq!(ports, ["webhook", "metrics"]);
    assert!(
        ingress.iter().all(|r| r.get("from").is_none()),
        "default allows all peers"
    );

    let docs = render(&[
        "--set",
        "networkPolicy.enabled=true",
        "--set-json",
        r#"networkPolicy.webhookFrom=[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"falco"}}}]"#,
        "--set-json",
        r#"networkPolicy.metricsFrom=[{"podSelector":{"matchLabels":{"app":"prometheus"}}}]"#,
        "--set-json",
        r#"networkPolicy.egress=[{"ports":[{"port":443}]}]"#,
    ]);
    let np = one(&docs, "NetworkPolicy");
    let ingress = &np["spec"]["ingress"];
    assert_eq!(
        ingress[0]["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
        "falco"
    );
    assert_eq!(
        ingress[1]["from"][0]["podSelector"]["matchLabels"]["app"],
        "prometheus"
    );
    assert_eq!(
        np["spec"]["policyTypes"],
        serde_json::json!(["Ingress", "Egress"])
    );
    assert_eq!(np["spec"]["egress"][0]["ports"][0]["port"], 443);
}

#[test]
fn service_monitor_and_prometheus_rule_render_when_enabled() {
    let docs = render(&[
        "--set",
        "serviceMonitor.enabled=true",
        "--set",
        "serviceMonitor.labels.release=kps",
        "--set",
        "prometheusRule.enabled=true",
        "--set",
        "prometheusRule.labels.release=kps",
    ]);
    let sm = one(&docs, "ServiceMonitor");
    assert_eq!(sm["metadata"]["labels"]["release"], "kps");
    assert_eq!(
        sm["spec"]["selector"]["matchLabels"],
        selector_labels(&docs)
    );
    assert_eq!(sm["spec"]["endpoints"][0]["port"], "metrics");
    assert_eq!(sm["spec"]["endpoints"][0]["path"], "/metrics");
    assert_eq!(sm["spec"]["endpoints"][0]["interval"], "30s");

    let rule = one(&docs, "PrometheusRule");
    assert_eq!(rule["metadata"]["labels"]["release"], "kps");
    let rules: Vec<&Value> = rule["spec"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .collect();
    let alert = |name: &str| {
        *rules
            .iter()
            .find(|r| r["alert"] == name)
            .unwrap_or_else(|| panic!("alert {name}"))
    };
    assert_eq!(rules.len(), 4, "four alerts");

    let no_leader = alert("ZenWatcherNoLeader");
    let expr = no_leader["expr"].as_str().unwrap();
    assert!(expr.contains("max(zen_watcher_leader{"), "{expr}");
    assert!(expr.contains(r#"namespace="zen-system""#), "{expr}");
    assert!(expr.trim_end().ends_with("< 1"), "{expr}");
    assert_eq!(no_leader["for"], "1m");

    let e5xx = alert("ZenWatcherWebhook5xx");
    let expr = e5xx["expr"].as_str().unwrap();
    assert!(
        expr.contains("zen_watcher_webhook_requests_total{") && expr.contains(r#"code=~"5..""#),
        "{expr}"
    );
    assert_eq!(e5xx["for"], "5m");

    let writes = alert("ZenWatcherWriteErrors");
    assert!(
        writes["expr"]
            .as_str()
            .unwrap()
            .contains("rate(zen_watcher_write_errors_total{")
    );
    assert_eq!(writes["for"], "10m");

    let gc = alert("ZenWatcherGCFailing");
    let expr = gc["expr"].as_str().unwrap();
    assert!(
        expr.contains("increase(zen_watcher_gc_runs_total{")
            && expr.contains(r#"result="failed""#)
            && expr.contains("[2h]"),
        "{expr}"
    );
}

#[test]
fn filter_rules_render_a_configmap_with_json() {
    let docs = render(&[
        "--set-json",
        r#"filter.rules={"sources":{"falco":{"minSeverity":"warning"}},"exclude":["kube-system"]}"#,
    ]);
    let cm = one(&docs, "ConfigMap");
    assert_eq!(cm["metadata"]["name"], "zen-watcher-filter");
    assert_eq!(cm["metadata"]["namespace"], NS);
    let raw = cm["data"]["filter.json"].as_str().expect("filter.json key");
    let rules: Value = serde_json::from_str(raw).expect("valid JSON");
    assert_eq!(rules["sources"]["falco"]["minSeverity"], "warning");
    assert_eq!(rules["exclude"][0], "kube-system");

    let docs = render(&[
        "--set",
        "filter.configMapName=rules",
        "--set",
        "filter.configMapKey=rules.json",
        "--set-json",
        r#"filter.rules={"a":1}"#,
    ]);
    let cm = one(&docs, "ConfigMap");
    assert_eq!(cm["metadata"]["name"], "rules");
    let rules: Value = serde_json::from_str(cm["data"]["rules.json"].as_str().unwrap()).unwrap();
    assert_eq!(rules["a"], 1);
}

#[test]
fn the_schema_rejects_misspelt_keys_and_wrong_types() {
    for (flag, needle) in [
        ("replicaCont=3", "replicaCont"),
        ("replicaCount=three", "/replicaCount"),
        ("leaderElection.enabeld=true", "enabeld"),
        ("logFormat=xml", "/logFormat"),
    ] {
        let out = template(&["--set", flag]);
        assert!(!out.status.success(), "rendered with {flag}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("schema") && stderr.contains(needle),
            "{flag}: {stderr}"
        );
    }
}

#[test]
fn helm_lint_passes() {
    let chart = zen_watcher_e2e::chart::chart_dir().display().to_string();
    for extra in [
        &[][..],
        &[
            "--set",
            "autoscaling.enabled=true",
            "--set",
            "networkPolicy.enabled=true",
            "--set",
            "serviceMonitor.enabled=true",
            "--set",
            "prometheusRule.enabled=true",
        ][..],
    ] {
        let mut args = vec![
            "lint",
            &chart,
            "--strict",
            "--kube-version",
            "1.36.0",
            "--set",
            "webhook.existingSecret=x",
        ];
        args.extend_from_slice(extra);
        let out = run_helm(&args);
        assert!(
            out.status.success(),
            "helm {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn extra_read_resources_can_never_grant_secrets() {
    for (group, resources) in [
        ("", "{secrets}"),
        ("", "{configmaps,secrets}"),
        ("", "{*}"),
        ("*", "{secrets}"),
        ("*", "{*}"),
    ] {
        let out = template(&[
            "--set-string",
            &format!("rbac.extraReadResources[0].apiGroup={group}"),
            "--set",
            &format!("rbac.extraReadResources[0].resources={resources}"),
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains("must not grant Secrets"),
            "apiGroup {group:?} resources {resources} rendered: {stderr}"
        );
    }
    let docs = render(&[
        "--set",
        "rbac.extraReadResources[0].apiGroup=argoproj.io",
        "--set",
        "rbac.extraReadResources[0].resources={*}",
        "--set-string",
        "rbac.extraReadResources[1].apiGroup=",
        "--set",
        "rbac.extraReadResources[1].resources={configmaps}",
    ]);
    let role = find(&docs, "ClusterRole")
        .into_iter()
        .find(|r| r["metadata"]["name"] == "zen-watcher")
        .expect("the watcher's ClusterRole");
    let rules = role["rules"].as_array().unwrap();
    assert!(rules.iter().any(|r| r["apiGroups"][0] == "argoproj.io"));
}

#[test]
fn the_secret_role_grants_get_only() {
    let docs = render(&["--set", "rbac.ingesterSecretNamespaces={team-a}"]);
    let role = find(&docs, "Role")
        .into_iter()
        .find(|r| r["metadata"]["name"] == "zen-watcher-ingester-secrets")
        .expect("the Secret Role");
    assert_eq!(role["metadata"]["namespace"], "team-a");
    assert_eq!(
        role["rules"],
        serde_json::json!([{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}])
    );
}

#[test]
fn the_service_takes_a_fixed_cluster_ip_and_refuses_one_that_is_not_an_address() {
    let default = render(&[]);
    assert!(
        one(&default, "Service")["spec"].get("clusterIP").is_none(),
        "Kubernetes allocates one"
    );
    let fixed = render(&["--set", "service.clusterIP=10.96.200.10"]);
    assert_eq!(one(&fixed, "Service")["spec"]["clusterIP"], "10.96.200.10");
    let out = template(&["--set", "service.clusterIP=webhooks.local"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/service/clusterIP"), "{stderr}");
}

fn pod_spec(docs: &[Value]) -> &Value {
    &one(docs, "Deployment")["spec"]["template"]["spec"]
}

#[test]
fn extension_points_reach_the_deployment_and_the_release() {
    let digest = format!("sha256:{}", "ab".repeat(32));
    let docs = render(&[
        "--set",
        &format!("image.digest={digest}"),
        "--set",
        "image.tag=ignored",
        "--set-json",
        r#"extraVolumes=[{"name":"scratch","emptyDir":{}}]"#,
        "--set-json",
        r#"extraVolumeMounts=[{"name":"scratch","mountPath":"/scratch"}]"#,
        "--set-json",
        r#"envFrom=[{"secretRef":{"name":"more-settings"}}]"#,
        "--set-json",
        r#"extraObjects=[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"{{ .Release.Name }}-extra"}},"apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: helper-{{ .Release.Namespace }}"]"#,
        "--set-json",
        r#"topologySpreadConstraints=[{"maxSkew":2,"topologyKey":"topology.kubernetes.io/zone","whenUnsatisfiable":"DoNotSchedule","labelSelector":{"matchLabels":{"app.kubernetes.io/instance":"{{ .Release.Name }}"}}}]"#,
        "--set",
        "deploymentAnnotations.team=platform",
        "--set",
        "revisionHistoryLimit=3",
    ]);
    let deployment = one(&docs, "Deployment");
    assert_eq!(deployment["metadata"]["annotations"]["team"], "platform");
    assert_eq!(deployment["spec"]["revisionHistoryLimit"], 3);
    let pod = pod_spec(&docs);
    let container = &pod["containers"][0];
    assert_eq!(
        container["image"],
        format!("ghcr.io/kube-zen/zen-watcher@{digest}")
    );
    assert_eq!(
        container["envFrom"][0]["secretRef"]["name"],
        "more-settings"
    );
    assert!(
        container["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "scratch" && m["mountPath"] == "/scratch")
    );
    assert!(
        pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["name"] == "scratch")
    );
    let spread = pod["topologySpreadConstraints"].as_array().unwrap();
    assert_eq!(spread.len(), 1, "the list replaces the built-in constraint");
    assert_eq!(spread[0]["topologyKey"], "topology.kubernetes.io/zone");
    assert_eq!(
        spread[0]["labelSelector"]["matchLabels"]["app.kubernetes.io/instance"], "zen-watcher",
        "rendered with tpl"
    );
    let names = |kind: &str| -> Vec<String> {
        find(&docs, kind)
            .iter()
            .map(|d| d["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(names("ConfigMap").contains(&"zen-watcher-extra".to_string()));
    assert!(names("ServiceAccount").contains(&format!("helper-{NS}")));

    // Defaults: the tag (appVersion), the built-in spread constraint, 10 revisions.
    let docs = render(&[]);
    let pod = pod_spec(&docs);
    let chart: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(zen_watcher_e2e::chart::chart_dir().join("Chart.yaml")).unwrap(),
    )
    .unwrap();
    let app_version = chart["appVersion"].as_str().unwrap();
    assert_eq!(
        pod["containers"][0]["image"],
        format!("ghcr.io/kube-zen/zen-watcher:{app_version}")
    );
    assert!(pod["containers"][0].get("envFrom").is_none());
    assert_eq!(
        pod["topologySpreadConstraints"][0]["topologyKey"],
        "kubernetes.io/hostname"
    );
    assert_eq!(one(&docs, "Deployment")["spec"]["revisionHistoryLimit"], 10);
    // Artifact Hub lists the image of this appVersion.
    let images = chart["annotations"]["artifacthub.io/images"]
        .as_str()
        .unwrap();
    assert!(
        images.contains(&format!("ghcr.io/kube-zen/zen-watcher:{app_version}")),
        "{images}"
    );

    let out = template(&["--set", "image.digest=latest"]);
    assert!(!out.status.success(), "a digest must be sha256:<hex>");
}
