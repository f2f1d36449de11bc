//! Which events are kept. Every event passes [`FilterConfig::decide`] before dedup and write.
//!
//! The rules come from `filter.json` (a ConfigMap key) laid over [`BUILT_IN_DEFAULTS`] field by
//! field, plus the `spec.filters` of the Ingester an event came through. What sources drop "by
//! default" lives here, not in the sources, so users can change it and every drop is counted
//! with its [`DropReason`].

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::Deserialize;
use serde_json::Value;

use super::expr::{ExprError, Expression};
use crate::crd::{Category, IngesterFilters, Severity};
use crate::event::Event;

/// A rule the watcher applies unless `filter.json` sets the same field for the same source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuiltInDefault {
    pub source: &'static str,
    pub rule: DefaultRule,
    /// Why it is the default, for the README.
    pub why: &'static str,
}

/// The value of a built-in default, named after its `filter.json` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultRule {
    MinSeverity(Severity),
    Results(&'static [&'static str]),
    Stages(&'static [&'static str]),
}

impl DefaultRule {
    /// The `filter.json` field the default fills.
    pub fn field(&self) -> &'static str {
        match self {
            DefaultRule::MinSeverity(_) => "minSeverity",
            DefaultRule::Results(_) => "results",
            DefaultRule::Stages(_) => "stages",
        }
    }
}

impl fmt::Display for BuiltInDefault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let field = self.rule.field();
        match self.rule {
            DefaultRule::MinSeverity(s) => {
                write!(f, "sources.{}.{field}: {:?}", self.source, s.as_str())
            }
            DefaultRule::Results(list) | DefaultRule::Stages(list) => {
                write!(f, "sources.{}.{field}: {list:?}", self.source)
            }
        }
    }
}

/// The rules in force where `filter.json` says nothing. Setting the same field for the same
/// source replaces one (an empty list or `"info"` switches it off); other fields keep theirs.
pub const BUILT_IN_DEFAULTS: [BuiltInDefault; 4] = [
    BuiltInDefault {
        source: "falco",
        rule: DefaultRule::MinSeverity(Severity::Medium),
        why: "Falco Warning maps to medium: Notice, Informational and Debug alerts are dropped",
    },
    BuiltInDefault {
        source: "kyverno",
        rule: DefaultRule::Results(&["fail"]),
        why: "only failed policy results are findings; pass, skip, warn and error are dropped",
    },
    BuiltInDefault {
        source: "audit",
        rule: DefaultRule::Stages(&["ResponseComplete"]),
        why: "each request is reported once, at ResponseComplete, not at every stage",
    },
    BuiltInDefault {
        source: "trivy",
        rule: DefaultRule::MinSeverity(Severity::High),
        why: "only high and critical vulnerabilities become Observations",
    },
];

/// Why `filter.json` or an Ingester's filters cannot be used. Each names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterConfigError {
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("{field}: {source}")]
    Expression { field: String, source: ExprError },
}

/// Why an event was dropped: a stable, snake_case metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    Disabled,
    MinSeverity,
    IncludeNamespace,
    ExcludeNamespace,
    IncludeKind,
    ExcludeKind,
    IncludeEventType,
    ExcludeEventType,
    IncludeCategory,
    ExcludeCategory,
    IncludeRule,
    ExcludeRule,
    Result,
    Stage,
    Expression,
}

impl DropReason {
    pub const ALL: [DropReason; 15] = [
        DropReason::Disabled,
        DropReason::MinSeverity,
        DropReason::IncludeNamespace,
        DropReason::ExcludeNamespace,
        DropReason::IncludeKind,
        DropReason::ExcludeKind,
        DropReason::IncludeEventType,
        DropReason::ExcludeEventType,
        DropReason::IncludeCategory,
        DropReason::ExcludeCategory,
        DropReason::IncludeRule,
        DropReason::ExcludeRule,
        DropReason::Result,
        DropReason::Stage,
        DropReason::Expression,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Disabled => "disabled",
            DropReason::MinSeverity => "min_severity",
            DropReason::IncludeNamespace => "include_namespace",
            DropReason::ExcludeNamespace => "exclude_namespace",
            DropReason::IncludeKind => "include_kind",
            DropReason::ExcludeKind => "exclude_kind",
            DropReason::IncludeEventType => "include_event_type",
            DropReason::ExcludeEventType => "exclude_event_type",
            DropReason::IncludeCategory => "include_category",
            DropReason::ExcludeCategory => "exclude_category",
            DropReason::IncludeRule => "include_rule",
            DropReason::ExcludeRule => "exclude_rule",
            DropReason::Result => "result",
            DropReason::Stage => "stage",
            DropReason::Expression => "expression",
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whose rule dropped an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleScope {
    /// `filter.json` or a built-in default.
    Global,
    /// The `spec.filters` of the event's Ingester.
    Ingester,
}

impl RuleScope {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleScope::Global => "global",
            RuleScope::Ingester => "ingester",
        }
    }
}

/// What to do with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Keep,
    Drop { reason: DropReason, by: RuleScope },
}

/// The compiled `filter.json` with the built-in defaults merged in.
#[derive(Debug, Clone)]
pub struct FilterConfig {
    expression: Option<Expression>,
    sources: HashMap<String, Rules>,
}

impl Default for FilterConfig {
    /// The built-in defaults only.
    fn default() -> Self {
        FilterConfig::build(None, BTreeMap::new())
    }
}

impl FilterConfig {
    /// Parses `filter.json` and compiles its expressions.
    pub fn from_json(text: &str) -> Result<FilterConfig, FilterConfigError> {
        let value = serde_json::from_str(text).map_err(|e| invalid("filter.json", e))?;
        let file: FilterFile = from_object(value, "filter.json")?;
        let expression = file
            .expression
            .as_deref()
            .map(|text| compile_expression("expression", text))
            .transpose()?;
        let mut specs = BTreeMap::new();
        for (name, value) in file.sources {
            let key = name.to_ascii_lowercase();
            if specs.contains_key(&key) {
                let message = "names a source already configured (names ignore case)";
                return Err(invalid(&format!("sources.{name}"), message));
            }
            specs.insert(key, SourceSpec::from_value(&name, value)?);
        }
        Ok(FilterConfig::build(expression, specs))
    }

    fn build(expression: Option<Expression>, mut specs: BTreeMap<String, SourceSpec>) -> Self {
        for default in BUILT_IN_DEFAULTS {
            specs
                .entry(default.source.to_string())
                .or_default()
                .apply_default(default.rule);
        }
        let sources = specs
            .into_iter()
            .map(|(name, spec)| (name, Rules::from(spec)))
            .collect();
        FilterConfig {
            expression,
            sources,
        }
    }

    /// Keep or drop `event`: the rules for its source, then those of its Ingester (if any),
    /// then the expressions in the same order, so the costly checks run last.
    pub fn decide(&self, event: &Event, ingester: Option<&IngesterFilter>) -> Decision {
        let source = self.rules_for(&event.source);
        let ingester = ingester.map(|i| &i.rules);
        let checks = [(source, RuleScope::Global), (ingester, RuleScope::Ingester)];
        for (rules, by) in checks {
            if let Some(reason) = rules.and_then(|r| r.check_lists(event)) {
                return Decision::Drop { reason, by };
            }
        }
        let expressions = [
            (
                source.and_then(|r| r.expression.as_ref()),
                RuleScope::Global,
            ),
            (self.expression.as_ref(), RuleScope::Global),
            (
                ingester.and_then(|r| r.expression.as_ref()),
                RuleScope::Ingester,
            ),
        ];
        for (expression, by) in expressions {
            if expression.is_some_and(|e| !e.matches(event)) {
                let reason = DropReason::Expression;
                return Decision::Drop { reason, by };
            }
        }
        Decision::Keep
    }

    fn rules_for(&self, source: &str) -> Option<&Rules> {
        match self.sources.get(source) {
            Some(rules) => Some(rules),
            // Sources are lowercase by the CRD pattern; this path only serves odd callers.
            None if source.bytes().any(|b| b.is_ascii_uppercase()) => {
                self.sources.get(&source.to_ascii_lowercase())
            }
            None => None,
        }
    }
}

/// The compiled `spec.filters` of an Ingester.
#[derive(Debug, Clone)]
pub struct IngesterFilter {
    rules: Rules,
}

impl IngesterFilter {
    /// Compiles `filters`; errors name the field as `spec.filters.<field>`.
    pub fn compile(filters: &IngesterFilters) -> Result<IngesterFilter, FilterConfigError> {
        let expression = filters
            .expression
            .as_deref()
            .map(|text| compile_expression("spec.filters.expression", text))
            .transpose()?;
        let spec = SourceSpec {
            min_severity: filters.min_severity,
            include_namespaces: Some(filters.include_namespaces.clone()),
            exclude_namespaces: Some(filters.exclude_namespaces.clone()),
            include_kinds: Some(filters.include_kinds.clone()),
            exclude_kinds: Some(filters.exclude_kinds.clone()),
            include_event_types: Some(filters.include_event_types.clone()),
            exclude_event_types: Some(filters.exclude_event_types.clone()),
            expression,
            ..SourceSpec::default()
        };
        Ok(IngesterFilter {
            rules: Rules::from(spec),
        })
    }
}

fn invalid(field: &str, message: impl fmt::Display) -> FilterConfigError {
    FilterConfigError::Invalid {
        field: field.to_string(),
        message: message.to_string(),
    }
}

/// Deserializes a JSON object; serde would also take an array for a struct.
fn from_object<T: serde::de::DeserializeOwned>(
    value: Value,
    field: &str,
) -> Result<T, FilterConfigError> {
    if !value.is_object() {
        return Err(invalid(field, format!("expected an object, found {value}")));
    }
    serde_json::from_value(value).map_err(|e| invalid(field, e))
}

fn compile_expression(field: &str, text: &str) -> Result<Expression, FilterConfigError> {
    Expression::parse(text).map_err(|source| FilterConfigError::Expression {
        field: field.to_string(),
        source,
    })
}

// ---------------------------------------------------------------------------------------------
// filter.json as written

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FilterFile {
    #[serde(default)]
    expression: Option<String>,
    // Values stay JSON until each source is read, so errors can name the source.
    #[serde(default)]
    sources: BTreeMap<String, Value>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SourceFile {
    enabled: Option<bool>,
    min_severity: Option<String>,
    include_namespaces: Option<Vec<String>>,
    exclude_namespaces: Option<Vec<String>>,
    include_kinds: Option<Vec<String>>,
    exclude_kinds: Option<Vec<String>>,
    include_event_types: Option<Vec<String>>,
    exclude_event_types: Option<Vec<String>>,
    include_categories: Option<Vec<String>>,
    exclude_categories: Option<Vec<String>>,
    include_rules: Option<Vec<String>>,
    exclude_rules: Option<Vec<String>>,
    results: Option<Vec<String>>,
    stages: Option<Vec<String>>,
    expression: Option<String>,
}

/// One source's settings, typed; `None` means "not set" so defaults can fill it.
#[derive(Default)]
struct SourceSpec {
    enabled: Option<bool>,
    min_severity: Option<Severity>,
    include_namespaces: Option<Vec<String>>,
    exclude_namespaces: Option<Vec<String>>,
    include_kinds: Option<Vec<String>>,
    exclude_kinds: Option<Vec<String>>,
    include_event_types: Option<Vec<String>>,
    exclude_event_types: Option<Vec<String>>,
    include_categories: Option<Vec<Category>>,
    exclude_categories: Option<Vec<Category>>,
    include_rules: Option<Vec<String>>,
    exclude_rules: Option<Vec<String>>,
    results: Option<Vec<String>>,
    stages: Option<Vec<String>>,
    expression: Option<Expression>,
}

impl SourceSpec {
    fn from_value(name: &str, value: Value) -> Result<SourceSpec, FilterConfigError> {
        let prefix = format!("sources.{name}");
        let file: SourceFile = from_object(value, &prefix)?;
        let field = |f: &str| format!("{prefix}.{f}");
        let min_severity = file
            .min_severity
            .map(|s| s.parse().map_err(|e| invalid(&field("minSeverity"), e)))
            .transpose()?;
        let categories = |list: Option<Vec<String>>, name: &str| {
            list.map(|l| parse_categories(&l, &field(name))).transpose()
        };
        Ok(SourceSpec {
            enabled: file.enabled,
            min_severity,
            include_namespaces: file.include_namespaces,
            exclude_namespaces: file.exclude_namespaces,
            include_kinds: file.include_kinds,
            exclude_kinds: file.exclude_kinds,
            include_event_types: file.include_event_types,
            exclude_event_types: file.exclude_event_types,
            include_categories: categories(file.include_categories, "includeCategories")?,
            exclude_categories: categories(file.exclude_categories, "excludeCategories")?,
            include_rules: file.include_rules,
            exclude_rules: file.exclude_rules,
            results: file.results,
            stages: file.stages,
            expression: file
                .expression
                .as_deref()
                .map(|text| compile_expression(&field("expression"), text))
                .transpose()?,
        })
    }

    fn apply_default(&mut self, rule: DefaultRule) {
        let owned = |list: &[&str]| list.iter().map(|s| s.to_string()).collect();
        match rule {
            DefaultRule::MinSeverity(s) => {
                self.min_severity.get_or_insert(s);
            }
            DefaultRule::Results(list) => {
                self.results.get_or_insert_with(|| owned(list));
            }
            DefaultRule::Stages(list) => {
                self.stages.get_or_insert_with(|| owned(list));
            }
        }
    }
}

const CATEGORIES: [Category; 5] = [
    Category::Security,
    Category::Compliance,
    Category::Performance,
    Category::Operations,
    Category::Cost,
];

fn parse_categories(list: &[String], field: &str) -> Result<Vec<Category>, FilterConfigError> {
    list.iter()
        .map(|name| {
            CATEGORIES
                .into_iter()
                .find(|c| c.as_str().eq_ignore_ascii_case(name.trim()))
                .ok_or_else(|| {
                    let message = format!(
                        "unknown category {name:?} (expected security, compliance, \
                         performance, operations or cost, in any case)"
                    );
                    invalid(field, message)
                })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Compiled rules

/// Lowercase names compared ignoring ASCII case. Lists are short, so a Vec beats hashing.
#[derive(Debug, Clone, Default)]
struct Names(Vec<String>);

impl Names {
    fn new(list: Option<Vec<String>>) -> Names {
        let names = list.unwrap_or_default();
        Names(
            names
                .iter()
                .map(|s| s.trim().to_ascii_lowercase())
                .collect(),
        )
    }

    fn contains(&self, value: &str) -> bool {
        self.0.iter().any(|n| n.eq_ignore_ascii_case(value))
    }

    /// An include list: empty allows all; otherwise the value must be present and listed.
    fn admits(&self, value: Option<&str>) -> bool {
        self.0.is_empty() || value.is_some_and(|v| self.contains(v))
    }

    /// An exclude list: drops only a present, listed value.
    fn excludes(&self, value: Option<&str>) -> bool {
        value.is_some_and(|v| self.contains(v))
    }

    /// A fact filter (`results`, `stages`): only applies when the event has the fact.
    fn rejects_fact(&self, value: Option<&str>) -> bool {
        !self.0.is_empty() && value.is_some_and(|v| !self.contains(v))
    }
}

#[derive(Debug, Clone, Default)]
struct Rules {
    enabled: bool,
    min_severity: Option<Severity>,
    include_categories: Vec<Category>,
    exclude_categories: Vec<Category>,
    include_event_types: Names,
    exclude_event_types: Names,
    include_namespaces: Names,
    exclude_namespaces: Names,
    include_kinds: Names,
    exclude_kinds: Names,
    include_rules: Names,
    exclude_rules: Names,
    results: Names,
    stages: Names,
    expression: Option<Expression>,
}

impl From<SourceSpec> for Rules {
    fn from(spec: SourceSpec) -> Rules {
        Rules {
            enabled: spec.enabled.unwrap_or(true),
            min_severity: spec.min_severity,
            include_categories: spec.include_categories.unwrap_or_default(),
            exclude_categories: spec.exclude_categories.unwrap_or_default(),
            include_event_types: Names::new(spec.include_event_types),
            exclude_event_types: Names::new(spec.exclude_event_types),
            include_namespaces: Names::new(spec.include_namespaces),
            exclude_namespaces: Names::new(spec.exclude_namespaces),
            include_kinds: Names::new(spec.include_kinds),
            exclude_kinds: Names::new(spec.exclude_kinds),
            include_rules: Names::new(spec.include_rules),
            exclude_rules: Names::new(spec.exclude_rules),
            results: Names::new(spec.results),
            stages: Names::new(spec.stages),
            expression: spec.expression,
        }
    }
}

impl Rules {
    /// Everything but the expression, cheapest first.
    fn check_lists(&self, event: &Event) -> Option<DropReason> {
        if !self.enabled {
            return Some(DropReason::Disabled);
        }
        if self.min_severity.is_some_and(|min| event.severity < min) {
            return Some(DropReason::MinSeverity);
        }
        self.check_category(event.category)
            .or_else(|| self.check_names(event))
            .or_else(|| self.check_facts(event))
    }

    fn check_category(&self, category: Category) -> Option<DropReason> {
        if !self.include_categories.is_empty() && !self.include_categories.contains(&category) {
            return Some(DropReason::IncludeCategory);
        }
        if self.exclude_categories.contains(&category) {
            return Some(DropReason::ExcludeCategory);
        }
        None
    }

    fn check_names(&self, event: &Event) -> Option<DropReason> {
        let event_type = Some(event.event_type.as_str());
        let checks = [
            (
                &self.include_namespaces,
                &self.exclude_namespaces,
                event.namespace(),
            ),
            (
                &self.include_kinds,
                &self.exclude_kinds,
                event.resource_kind(),
            ),
            (
                &self.include_event_types,
                &self.exclude_event_types,
                event_type,
            ),
            (
                &self.include_rules,
                &self.exclude_rules,
                event.facts.rule.as_deref(),
            ),
        ];
        const REASONS: [(DropReason, DropReason); 4] = [
            (DropReason::IncludeNamespace, DropReason::ExcludeNamespace),
            (DropReason::IncludeKind, DropReason::ExcludeKind),
            (DropReason::IncludeEventType, DropReason::ExcludeEventType),
            (DropReason::IncludeRule, DropReason::ExcludeRule),
        ];
        checks.into_iter().zip(REASONS).find_map(
            |((include, exclude, value), (not_included, excluded))| {
                if !include.admits(value) {
                    Some(not_included)
                } else if exclude.excludes(value) {
                    Some(excluded)
                } else {
                    None
                }
            },
        )
    }

    fn check_facts(&self, event: &Event) -> Option<DropReason> {
        if self.results.rejects_fact(event.facts.result.as_deref()) {
            return Some(DropReason::Result);
        }
        if self.stages.rejects_fact(event.facts.stage.as_deref()) {
            return Some(DropReason::Stage);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::ResourceRef;
    use crate::event::EventKind;
    use serde_json::json;

    const PRODUCTION: &str = include_str!("../../../tests/fixtures/filter/production.json");
    const QUIET: &str = include_str!("../../../tests/fixtures/filter/quiet-cluster.json");

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
}

#[cfg(test)]
mod readme_tests {
    use super::*;

    #[test]
    fn the_readme_lists_every_built_in_default_and_reason() {
        let readme = include_str!("../../../README.md");
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
}
