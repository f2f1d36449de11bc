//! Evaluating a compiled expression against an event.

use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::Value;

use super::ast::{FieldRef, Literal, Node, Operand, severity_named};
use super::lexer::{CmpOp, parse_number};
use crate::crd::Severity;
use crate::event::{Event, lookup_path};

impl Node {
    pub(super) fn eval(&self, event: &Event) -> bool {
        match self {
            Node::Or(terms) => terms.iter().any(|t| t.eval(event)),
            Node::And(terms) => terms.iter().all(|t| t.eval(event)),
            Node::Not(inner) => !inner.eval(event),
            Node::Const(b) => *b,
            Node::Severity(s) => event.severity == *s,
            Node::Category(c) => event.category == *c,
            Node::Exists(operand) => !operand.resolve(event).is_null(),
            Node::In(operand, items) => {
                let value = operand.resolve(event);
                items.iter().any(|item| equals(&value, &Val::Lit(item)))
            }
            Node::Compare { left, op, right } => {
                compare(*op, &left.resolve(event), &right.resolve(event))
            }
        }
    }
}

impl Operand {
    fn resolve<'a>(&'a self, event: &'a Event) -> Val<'a> {
        match self {
            Operand::Field(field) => field.resolve(event),
            Operand::Literal(literal) => Val::Lit(literal),
        }
    }
}

impl FieldRef {
    pub(super) fn resolve<'a>(&'a self, event: &'a Event) -> Val<'a> {
        let resource = event.resource.as_ref();
        let text = match self {
            FieldRef::Source => Some(event.source.as_str()),
            FieldRef::Category => Some(event.category.as_str()),
            FieldRef::Severity => Some(event.severity.as_str()),
            FieldRef::EventType => Some(event.event_type.as_str()),
            FieldRef::Namespace => event.namespace(),
            FieldRef::Kind => event.resource_kind(),
            FieldRef::Name => resource.and_then(|r| r.name.as_deref()),
            FieldRef::ApiVersion => resource.and_then(|r| r.api_version.as_deref()),
            FieldRef::Rule => event.facts.rule.as_deref(),
            FieldRef::Result => event.facts.result.as_deref(),
            FieldRef::Stage => event.facts.stage.as_deref(),
            FieldRef::Fingerprint => Some(event.fingerprint.as_str()),
            FieldRef::Title => event.title.as_deref(),
            FieldRef::Details(rest) => {
                return lookup_path(&event.details, rest).map_or(Val::Null, Val::from_json);
            }
            FieldRef::Other(path) => {
                return event.field(path).map_or(Val::Null, Val::from_owned_json);
            }
        };
        text.map_or(Val::Null, |s| Val::Str(Cow::Borrowed(s)))
    }
}

/// A resolved operand.
#[derive(Debug)]
pub(super) enum Val<'a> {
    Null,
    Bool(bool),
    Num(f64),
    Str(Cow<'a, str>),
    Lit(&'a Literal),
}

impl<'a> Val<'a> {
    fn from_json(value: &'a Value) -> Val<'a> {
        match value {
            Value::Null => Val::Null,
            Value::Bool(b) => Val::Bool(*b),
            Value::Number(n) => n
                .as_f64()
                .map_or_else(|| Val::Str(Cow::Owned(n.to_string())), Val::Num),
            Value::String(s) => Val::Str(Cow::Borrowed(s)),
            other => Val::Str(Cow::Owned(other.to_string())),
        }
    }

    fn from_owned_json(value: Value) -> Val<'a> {
        match value {
            Value::String(s) => Val::Str(Cow::Owned(s)),
            other => match Val::from_json(&other) {
                Val::Null => Val::Null,
                Val::Bool(b) => Val::Bool(b),
                Val::Num(n) => Val::Num(n),
                owned => Val::Str(Cow::Owned(owned.text().into_owned())),
            },
        }
    }

    fn is_null(&self) -> bool {
        matches!(self, Val::Null)
    }

    fn number(&self) -> Option<f64> {
        match self {
            Val::Num(n) => Some(*n),
            Val::Str(s) => parse_number(s),
            Val::Lit(l) => l.number,
            Val::Null | Val::Bool(_) => None,
        }
    }

    fn severity(&self) -> Option<Severity> {
        match self {
            Val::Str(s) => severity_named(s),
            Val::Lit(l) => l.severity,
            _ => None,
        }
    }

    /// The string form: null is empty, numbers print as in JSON.
    pub(super) fn text(&self) -> Cow<'_, str> {
        match self {
            Val::Null => Cow::Borrowed(""),
            Val::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
            Val::Num(n) => Cow::Owned(n.to_string()),
            Val::Str(s) => Cow::Borrowed(s),
            Val::Lit(l) => Cow::Borrowed(&l.text),
        }
    }
}

fn equals(a: &Val, b: &Val) -> bool {
    if a.is_null() || b.is_null() {
        return a.is_null() && b.is_null();
    }
    match (a.number(), b.number()) {
        (Some(x), Some(y)) => x == y,
        // The string form of a number is numeric, so it cannot equal a non-numeric one.
        (Some(_), None) | (None, Some(_)) => false,
        (None, None) => a.text().eq_ignore_ascii_case(&b.text()),
    }
}

fn order(a: &Val, b: &Val) -> Option<Ordering> {
    if a.is_null() || b.is_null() {
        return None;
    }
    if let (Some(x), Some(y)) = (a.number(), b.number()) {
        return x.partial_cmp(&y);
    }
    if let (Some(x), Some(y)) = (a.severity(), b.severity()) {
        return Some(x.cmp(&y));
    }
    let (x, y) = (a.text(), b.text());
    Some(
        x.bytes()
            .map(|c| c.to_ascii_lowercase())
            .cmp(y.bytes().map(|c| c.to_ascii_lowercase())),
    )
}

fn compare(op: CmpOp, a: &Val, b: &Val) -> bool {
    match op {
        CmpOp::Eq => equals(a, b),
        CmpOp::Ne => !equals(a, b),
        CmpOp::Gt => order(a, b) == Some(Ordering::Greater),
        CmpOp::Ge => matches!(order(a, b), Some(Ordering::Greater | Ordering::Equal)),
        CmpOp::Lt => order(a, b) == Some(Ordering::Less),
        CmpOp::Le => matches!(order(a, b), Some(Ordering::Less | Ordering::Equal)),
        CmpOp::Contains => contains_ignore_case(&a.text(), &b.text()),
        CmpOp::StartsWith => starts_with_ignore_case(&a.text(), &b.text()),
        CmpOp::EndsWith => ends_with_ignore_case(&a.text(), &b.text()),
    }
}

fn starts_with_ignore_case(hay: &str, needle: &str) -> bool {
    let needle = needle.as_bytes();
    hay.as_bytes()
        .get(..needle.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(needle))
}

fn ends_with_ignore_case(hay: &str, needle: &str) -> bool {
    let (hay, needle) = (hay.as_bytes(), needle.as_bytes());
    hay.len()
        .checked_sub(needle.len())
        .and_then(|start| hay.get(start..))
        .is_some_and(|tail| tail.eq_ignore_ascii_case(needle))
}

fn contains_ignore_case(hay: &str, needle: &str) -> bool {
    needle.is_empty()
        || hay
            .as_bytes()
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}
