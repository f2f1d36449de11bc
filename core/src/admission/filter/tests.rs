use super::*;
use crate::crd::{Category, IngesterFilters, ResourceRef, Severity};
use crate::event::{Event, EventKind};
use serde_json::json;

const PRODUCTION: &str = include_str!("../../../../tests/fixtures/filter/production.json");
const QUIET: &str = include_str!("../../../../tests/fixtures/filter/quiet-cluster.json");

fn event(source: &str, severity: Severity) -> Event {
    Event::about_pod_for_tests(source, severity, json!({}))
}

fn falco(severity: Severity, rule: &str) -> Event {
    let mut e = event("falco", severity);
    e.facts.rule = Some(rule.into());
    e.details = json!({"rule": rule, "priority": "Warning"})
        .as_object()
        .cloned()
        .unwrap_or_default();
    e
}

fn kyverno(result: &str) -> Event {
    let mut e = event("kyverno", Severity::Medium);
    e.category = Category::Compliance;
    e.event_type = "policy_violation".into();
    e.facts.rule = Some("require-labels/check-team".into());
    e.facts.result = Some(result.into());
    e
}

fn audit(stage: &str, kind: &str) -> Event {
    let mut e = event("audit", Severity::Medium);
    e.event_type = "secret_access".into();
    e.facts.stage = Some(stage.into());
    if let Some(r) = e.resource.as_mut() {
        r.kind = Some(kind.into());
    }
    e
}

fn trivy(severity: Severity) -> Event {
    let mut e = event("trivy", severity);
    e.event_type = "vulnerability".into();
    e.kind = EventKind::Finding {
        origin: crate::event::Origin {
            uid: "u".into(),
            resource_version: None,
            watch: "w".into(),
        },
    };
    e
}

fn config(text: &str) -> FilterConfig {
    match FilterConfig::from_json(text) {
        Ok(c) => c,
        Err(e) => panic!("{text}: {e}"),
    }
}

fn drop_global(reason: DropReason) -> Decision {
    Decision::Drop {
        reason,
        by: RuleScope::Global,
    }
}

fn drop_ingester(reason: DropReason) -> Decision {
    Decision::Drop {
        reason,
        by: RuleScope::Ingester,
    }
}

fn error(text: &str) -> String {
    match FilterConfig::from_json(text) {
        Ok(c) => panic!("{text} was accepted: {c:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn built_in_defaults_are_listed() {
    let listed: Vec<String> = BUILT_IN_DEFAULTS.iter().map(|d| d.to_string()).collect();
    assert_eq!(
        listed,
        [
            r#"sources.falco.minSeverity: "medium""#,
            r#"sources.kyverno.results: ["fail"]"#,
            r#"sources.audit.stages: ["ResponseComplete"]"#,
            r#"sources.trivy.minSeverity: "high""#,
        ]
    );
    assert!(BUILT_IN_DEFAULTS.iter().all(|d| !d.why.is_empty()));
}

#[test]
fn falco_default_drops_below_warning() {
    let f = FilterConfig::default();
    let shell = "Terminal shell in container";
    assert_eq!(
        f.decide(&falco(Severity::Medium, shell), None),
        Decision::Keep
    );
    assert_eq!(
        f.decide(&falco(Severity::Critical, shell), None),
        Decision::Keep
    );
    assert_eq!(
        f.decide(&falco(Severity::Low, shell), None),
        drop_global(DropReason::MinSeverity)
    );
    assert_eq!(
        f.decide(&falco(Severity::Info, shell), None),
        drop_global(DropReason::MinSeverity)
    );
}

#[test]
fn kyverno_default_keeps_failures_only() {
    let f = FilterConfig::default();
    assert_eq!(f.decide(&kyverno("fail"), None), Decision::Keep);
    assert_eq!(f.decide(&kyverno("FAIL"), None), Decision::Keep);
    for result in ["pass", "skip", "warn", "error"] {
        assert_eq!(
            f.decide(&kyverno(result), None),
            drop_global(DropReason::Result),
            "{result}"
        );
    }
    let mut no_result = kyverno("fail");
    no_result.facts.result = None;
    assert_eq!(f.decide(&no_result, None), Decision::Keep);
}

#[test]
fn audit_default_keeps_response_complete_only() {
    let f = FilterConfig::default();
    assert_eq!(
        f.decide(&audit("ResponseComplete", "Secret"), None),
        Decision::Keep
    );
    for stage in ["RequestReceived", "ResponseStarted", "Panic"] {
        assert_eq!(
            f.decide(&audit(stage, "Secret"), None),
            drop_global(DropReason::Stage),
            "{stage}"
        );
    }
}

#[test]
fn trivy_default_keeps_high_and_critical() {
    let f = FilterConfig::default();
    assert_eq!(f.decide(&trivy(Severity::High), None), Decision::Keep);
    assert_eq!(f.decide(&trivy(Severity::Critical), None), Decision::Keep);
    assert_eq!(
        f.decide(&trivy(Severity::Medium), None),
        drop_global(DropReason::MinSeverity)
    );
}

#[test]
fn other_sources_have_no_default_rules() {
    let f = FilterConfig::default();
    let mut e = event("argo-alerts", Severity::Info);
    e.facts.result = Some("pass".into());
    e.facts.stage = Some("RequestReceived".into());
    assert_eq!(f.decide(&e, None), Decision::Keep);
    assert_eq!(config("{}").decide(&e, None), Decision::Keep);
}

#[test]
fn configmap_overrides_defaults_field_by_field() {
    let f = config(
        r#"{"sources": {
                "kyverno": {"results": ["fail", "error"], "minSeverity": "high"},
                "falco": {"excludeNamespaces": ["kube-system"]},
                "trivy": {"minSeverity": "info"},
                "audit": {"stages": []}
            }}"#,
    );
    assert_eq!(
        f.decide(&kyverno("error"), None),
        drop_global(DropReason::MinSeverity),
        "results replaced, minSeverity added"
    );
    let mut high = kyverno("error");
    high.severity = Severity::High;
    assert_eq!(f.decide(&high, None), Decision::Keep);
    high.facts.result = Some("pass".into());
    assert_eq!(f.decide(&high, None), drop_global(DropReason::Result));
    // Falco keeps its default minSeverity next to the new exclude list.
    assert_eq!(
        f.decide(&falco(Severity::Low, "r"), None),
        drop_global(DropReason::MinSeverity)
    );
    assert_eq!(f.decide(&trivy(Severity::Low), None), Decision::Keep);
    assert_eq!(
        f.decide(&audit("RequestReceived", "Pod"), None),
        Decision::Keep
    );
}

#[test]
fn disabled_source_drops_everything() {
    let f = config(r#"{"sources": {"falco": {"enabled": false}}}"#);
    assert_eq!(
        f.decide(&falco(Severity::Critical, "r"), None),
        drop_global(DropReason::Disabled)
    );
    assert_eq!(f.decide(&trivy(Severity::Critical), None), Decision::Keep);
}

#[test]
fn each_list_rule_has_its_reason() {
    let cases = [
        (
            r#""includeNamespaces": ["prod"]"#,
            DropReason::IncludeNamespace,
        ),
        (
            r#""excludeNamespaces": ["SHOP"]"#,
            DropReason::ExcludeNamespace,
        ),
        (r#""includeKinds": ["Deployment"]"#, DropReason::IncludeKind),
        (r#""excludeKinds": ["pod"]"#, DropReason::ExcludeKind),
        (
            r#""includeEventTypes": ["vulnerability"]"#,
            DropReason::IncludeEventType,
        ),
        (
            r#""excludeEventTypes": ["Runtime_Alert"]"#,
            DropReason::ExcludeEventType,
        ),
        (
            r#""includeCategories": ["cost"]"#,
            DropReason::IncludeCategory,
        ),
        (
            r#""excludeCategories": ["SECURITY"]"#,
            DropReason::ExcludeCategory,
        ),
        (r#""includeRules": ["other rule"]"#, DropReason::IncludeRule),
        (
            r#""excludeRules": ["write below etc"]"#,
            DropReason::ExcludeRule,
        ),
        (r#""results": ["fail"]"#, DropReason::Result),
        (r#""stages": ["ResponseComplete"]"#, DropReason::Stage),
        (
            r#""expression": "namespace = 'prod'""#,
            DropReason::Expression,
        ),
        (r#""minSeverity": "CRITICAL""#, DropReason::MinSeverity),
        (r#""enabled": false"#, DropReason::Disabled),
    ];
    let mut e = event("custom", Severity::High);
    e.facts.rule = Some("Write below ETC".into());
    e.facts.result = Some("pass".into());
    e.facts.stage = Some("RequestReceived".into());
    for (rule, reason) in cases {
        let f = config(&format!(r#"{{"sources": {{"custom": {{{rule}}}}}}}"#));
        assert_eq!(f.decide(&e, None), drop_global(reason), "{rule}");
        assert_eq!(reason.as_str(), reason.to_string());
    }
    let labels: Vec<&str> = DropReason::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(labels.len(), 15);
    assert!(
        labels
            .iter()
            .all(|l| l.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
    );
}

#[test]
fn matching_lists_keep_events() {
    let f = config(
        r#"{"sources": {"custom": {
                "includeNamespaces": ["Shop"], "excludeNamespaces": ["dev"],
                "includeKinds": ["POD"], "excludeKinds": ["Secret"],
                "includeEventTypes": ["runtime_alert"], "includeCategories": ["Security"],
                "includeRules": ["write below etc"], "results": ["Pass"], "stages": ["requestreceived"]
            }}}"#,
    );
    let mut e = event("custom", Severity::High);
    e.facts.rule = Some("Write below ETC".into());
    e.facts.result = Some("pass".into());
    e.facts.stage = Some("RequestReceived".into());
    assert_eq!(f.decide(&e, None), Decision::Keep);
}

#[test]
fn missing_values_fail_include_and_pass_exclude() {
    let include = config(
        r#"{"sources": {"custom": {"includeNamespaces": ["shop"], "includeRules": ["r"]}}}"#,
    );
    let exclude = config(
        r#"{"sources": {"custom": {"excludeNamespaces": ["shop"], "excludeKinds": ["Pod"],
                "excludeRules": ["r"]}}}"#,
    );
    let mut cluster_scoped = event("custom", Severity::High);
    cluster_scoped.resource = None;
    assert_eq!(
        include.decide(&cluster_scoped, None),
        drop_global(DropReason::IncludeNamespace)
    );
    assert_eq!(exclude.decide(&cluster_scoped, None), Decision::Keep);
    let mut no_rule = event("custom", Severity::High);
    no_rule.facts.rule = None;
    assert_eq!(
        include.decide(&no_rule, None),
        drop_global(DropReason::IncludeRule)
    );
    let mut no_ns = event("custom", Severity::High);
    no_ns.resource = Some(ResourceRef {
        kind: Some("Node".into()),
        ..Default::default()
    });
    assert_eq!(exclude.decide(&no_ns, None), Decision::Keep);
}

#[test]
fn global_expression_applies_to_every_source() {
    let f = config(r#"{"expression": "namespace != 'shop'"}"#);
    for e in [
        falco(Severity::High, "r"),
        kyverno("fail"),
        trivy(Severity::High),
    ] {
        assert_eq!(f.decide(&e, None), drop_global(DropReason::Expression));
    }
    let mut elsewhere = trivy(Severity::High);
    elsewhere.resource = None;
    assert_eq!(f.decide(&elsewhere, None), Decision::Keep);
    // Cheap rules are checked (and counted) before the expression.
    assert_eq!(
        f.decide(&trivy(Severity::Low), None),
        drop_global(DropReason::MinSeverity)
    );
}

#[test]
fn source_names_ignore_case() {
    let f = config(r#"{"sources": {"Falco": {"minSeverity": "critical"}}}"#);
    assert_eq!(
        f.decide(&falco(Severity::High, "r"), None),
        drop_global(DropReason::MinSeverity)
    );
    let mut upper = falco(Severity::High, "r");
    upper.source = "FALCO".into();
    assert_eq!(f.decide(&upper, None), drop_global(DropReason::MinSeverity));
    assert!(
        error(r#"{"sources": {"falco": {}, "FALCO": {}}}"#)
            .starts_with("sources.falco: names a source already configured")
    );
}

fn ingester(filters: IngesterFilters) -> IngesterFilter {
    match IngesterFilter::compile(&filters) {
        Ok(f) => f,
        Err(e) => panic!("{filters:?}: {e}"),
    }
}

#[test]
fn ingester_filters_combine_with_global_rules() {
    let global = config(
        r#"{"sources": {"argo": {"excludeNamespaces": ["dev"]}}, "expression": "NOT is_info"}"#,
    );
    let filter = ingester(IngesterFilters {
        min_severity: Some(Severity::Medium),
        include_namespaces: vec!["shop".into(), "dev".into()],
        exclude_kinds: vec!["secret".into()],
        include_event_types: vec!["alert".into()],
        expression: Some("details.team EXISTS".into()),
        ..Default::default()
    });
    let mut e = event("argo", Severity::High);
    e.event_type = "alert".into();
    e.details.insert("team".into(), json!("payments"));
    assert_eq!(global.decide(&e, Some(&filter)), Decision::Keep);
    assert_eq!(global.decide(&e, None), Decision::Keep);

    let mut low = e.clone();
    low.severity = Severity::Low;
    assert_eq!(
        global.decide(&low, Some(&filter)),
        drop_ingester(DropReason::MinSeverity)
    );
    let mut info = e.clone();
    info.severity = Severity::Info;
    assert_eq!(
        global.decide(&info, Some(&filter)),
        drop_ingester(DropReason::MinSeverity),
        "list rules run before any expression"
    );
    let mut dev = e.clone();
    if let Some(r) = dev.resource.as_mut() {
        r.namespace = Some("dev".into());
    }
    assert_eq!(
        global.decide(&dev, Some(&filter)),
        drop_global(DropReason::ExcludeNamespace)
    );
    let mut elsewhere = e.clone();
    if let Some(r) = elsewhere.resource.as_mut() {
        r.namespace = Some("prod".into());
    }
    assert_eq!(
        global.decide(&elsewhere, Some(&filter)),
        drop_ingester(DropReason::IncludeNamespace)
    );
    let mut secret = e.clone();
    if let Some(r) = secret.resource.as_mut() {
        r.kind = Some("Secret".into());
    }
    assert_eq!(
        global.decide(&secret, Some(&filter)),
        drop_ingester(DropReason::ExcludeKind)
    );
    let mut other_type = e.clone();
    other_type.event_type = "other".into();
    assert_eq!(
        global.decide(&other_type, Some(&filter)),
        drop_ingester(DropReason::IncludeEventType)
    );
    let mut no_team = e.clone();
    no_team.details.clear();
    assert_eq!(
        global.decide(&no_team, Some(&filter)),
        drop_ingester(DropReason::Expression)
    );
}

#[test]
fn ingester_filter_errors_name_the_field() {
    let filters = IngesterFilters {
        expression: Some("severity >=".into()),
        ..Default::default()
    };
    let err = IngesterFilter::compile(&filters).map(|_| ()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "spec.filters.expression: expected an operand at position 12, found end of input"
    );
    let empty = ingester(IngesterFilters::default());
    let f = FilterConfig::default();
    assert_eq!(
        f.decide(&event("x", Severity::Info), Some(&empty)),
        Decision::Keep
    );
}

#[test]
fn config_errors_name_the_field() {
    let cases = [
        ("{", "filter.json: EOF while parsing an object"),
        ("[]", "filter.json: expected an object, found []"),
        (
            r#"{"sources": {"falco": []}}"#,
            "sources.falco: expected an object, found []",
        ),
        (r#"{"sourcs": {}}"#, "filter.json: unknown field `sourcs`"),
        (
            r#"{"sources": {"falco": {"minSeverty": "high"}}}"#,
            "sources.falco: unknown field `minSeverty`",
        ),
        (
            r#"{"sources": {"falco": {"minSeverity": "warning"}}}"#,
            r#"sources.falco.minSeverity: unknown severity "warning""#,
        ),
        (
            r#"{"sources": {"falco": {"includeCategories": ["secrity"]}}}"#,
            r#"sources.falco.includeCategories: unknown category "secrity""#,
        ),
        (
            r#"{"sources": {"falco": {"results": "fail"}}}"#,
            "sources.falco: invalid type: string \"fail\", expected a sequence",
        ),
        (
            r#"{"sources": {"falco": {"expression": "a ="}}}"#,
            "sources.falco.expression: expected an operand at position 4, found end of input",
        ),
        (
            r#"{"expression": "(is_high"}"#,
            r#"expression: expected AND, OR or ")" at position 9"#,
        ),
        (
            r#"{"sources": {"falco": 3}}"#,
            "sources.falco: expected an object, found 3",
        ),
        (r#"{"sources": []}"#, "filter.json: invalid type: sequence"),
    ];
    for (text, message) in cases {
        let got = error(text);
        assert!(
            got.starts_with(message),
            "{text}: got {got:?}, want {message:?}"
        );
    }
}

#[test]
fn severities_parse_in_any_case() {
    for s in ["HIGH", "High", "high"] {
        let f = config(&format!(
            r#"{{"sources": {{"falco": {{"minSeverity": "{s}"}}}}}}"#
        ));
        assert_eq!(
            f.decide(&falco(Severity::Medium, "r"), None),
            drop_global(DropReason::MinSeverity)
        );
    }
}

#[test]
fn production_example_parses_and_applies() {
    let f = config(PRODUCTION);
    assert_eq!(
        f.decide(&falco(Severity::High, "Shell"), None),
        Decision::Keep
    );
    let mut system = falco(Severity::High, "Shell");
    if let Some(r) = system.resource.as_mut() {
        r.namespace = Some("kube-system".into());
    }
    assert_eq!(
        f.decide(&system, None),
        drop_global(DropReason::ExcludeNamespace)
    );
    let mut kubelet = falco(Severity::High, "Shell");
    kubelet
        .details
        .insert("output_fields".into(), json!({"proc.name": "kubelet"}));
    assert_eq!(
        f.decide(&kubelet, None),
        drop_global(DropReason::Expression)
    );
    assert_eq!(f.decide(&kyverno("error"), None), Decision::Keep);
    assert_eq!(
        f.decide(&kyverno("pass"), None),
        drop_global(DropReason::Result)
    );
    assert_eq!(
        f.decide(&audit("ResponseStarted", "Secret"), None),
        drop_global(DropReason::Stage),
        "the default stages stay"
    );
    assert_eq!(
        f.decide(&audit("ResponseComplete", "ConfigMap"), None),
        drop_global(DropReason::IncludeKind)
    );
    assert_eq!(
        f.decide(&trivy(Severity::High), None),
        drop_global(DropReason::MinSeverity)
    );
    let mut argo = event("argo-alerts", Severity::Medium);
    argo.details.insert("labels".into(), json!({"team": "a"}));
    assert_eq!(f.decide(&argo, None), Decision::Keep);
}

#[test]
fn quiet_cluster_example_parses_and_applies() {
    let f = config(QUIET);
    assert_eq!(
        f.decide(&falco(Severity::Medium, "r"), None),
        drop_global(DropReason::MinSeverity)
    );
    assert_eq!(f.decide(&kyverno("pass"), None), Decision::Keep);
    assert_eq!(
        f.decide(&audit("ResponseComplete", "Secret"), None),
        drop_global(DropReason::Disabled)
    );
    let mut fixable = trivy(Severity::High);
    fixable
        .details
        .insert("fixedVersion".into(), json!("1.2.3"));
    assert_eq!(f.decide(&fixable, None), Decision::Keep);
    assert_eq!(
        f.decide(&trivy(Severity::High), None),
        drop_global(DropReason::Expression)
    );
}

#[test]
fn the_readme_lists_every_built_in_default_and_reason() {
    let readme = include_str!("../../../../README.md");
    for default in BUILT_IN_DEFAULTS {
        let row = format!("| `{default}` | {} |", default.why);
        assert!(readme.contains(&row), "README lacks {row}");
    }
    for reason in DropReason::ALL {
        assert!(
            readme.contains(&format!("`{}`", reason.as_str())),
            "README lacks {reason}"
        );
    }
}
