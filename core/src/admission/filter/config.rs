//! The rules as configured: the built-in defaults, `filter.json` as written, and how it is
//! loaded and checked.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::Deserialize;
use serde_json::Value;

use super::rules::Rules;
use crate::admission::expr::{ExprError, Expression};
use crate::crd::{Category, Severity};

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

/// The compiled `filter.json` with the built-in defaults merged in.
#[derive(Debug, Clone)]
pub struct FilterConfig {
    pub(super) expression: Option<Expression>,
    pub(super) sources: HashMap<String, Rules>,
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

pub(super) fn compile_expression(field: &str, text: &str) -> Result<Expression, FilterConfigError> {
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
pub(super) struct SourceSpec {
    pub(super) enabled: Option<bool>,
    pub(super) min_severity: Option<Severity>,
    pub(super) include_namespaces: Option<Vec<String>>,
    pub(super) exclude_namespaces: Option<Vec<String>>,
    pub(super) include_kinds: Option<Vec<String>>,
    pub(super) exclude_kinds: Option<Vec<String>>,
    pub(super) include_event_types: Option<Vec<String>>,
    pub(super) exclude_event_types: Option<Vec<String>>,
    pub(super) include_categories: Option<Vec<Category>>,
    pub(super) exclude_categories: Option<Vec<Category>>,
    pub(super) include_rules: Option<Vec<String>>,
    pub(super) exclude_rules: Option<Vec<String>>,
    pub(super) results: Option<Vec<String>>,
    pub(super) stages: Option<Vec<String>>,
    pub(super) expression: Option<Expression>,
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

fn parse_categories(list: &[String], field: &str) -> Result<Vec<Category>, FilterConfigError> {
    list.iter()
        .map(|name| {
            Category::from_name(name.trim()).ok_or_else(|| {
                let message = format!(
                    "unknown category {name:?} (expected security, compliance, \
                         performance, operations or cost, in any case)"
                );
                invalid(field, message)
            })
        })
        .collect()
}
