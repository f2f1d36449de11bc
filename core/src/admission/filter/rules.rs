//! The rule checks: whether an event is kept, and if not, why and by whose rule.

use std::fmt;

use super::config::{FilterConfig, FilterConfigError, SourceSpec, compile_expression};
use crate::admission::expr::Expression;
use crate::crd::{Category, IngesterFilters, Severity};
use crate::event::Event;

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

impl FilterConfig {
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
pub(super) struct Rules {
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
