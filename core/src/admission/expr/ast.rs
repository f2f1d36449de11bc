//! The compiled form of an expression.

use super::lexer::{CmpOp, parse_number};
use crate::crd::{Category, Severity};

#[derive(Debug, Clone)]
pub(super) enum Node {
    Or(Vec<Node>),
    And(Vec<Node>),
    Not(Box<Node>),
    Const(bool),
    Severity(Severity),
    Category(Category),
    Exists(Operand),
    In(Operand, Vec<Literal>),
    Compare {
        left: Operand,
        op: CmpOp,
        right: Operand,
    },
}

#[derive(Debug, Clone)]
pub(super) enum Operand {
    Field(FieldRef),
    Literal(Literal),
}

#[derive(Debug, Clone)]
pub(super) enum LiteralKind {
    Str,
    Num,
    Bool(bool),
}

/// A constant with its number and severity interpretations worked out at parse time.
#[derive(Debug, Clone)]
pub(super) struct Literal {
    pub(super) value: LiteralKind,
    pub(super) text: String,
    pub(super) number: Option<f64>,
    pub(super) severity: Option<Severity>,
}

impl Literal {
    pub(super) fn string(text: String) -> Literal {
        Literal {
            value: LiteralKind::Str,
            number: parse_number(&text),
            severity: severity_named(&text),
            text,
        }
    }

    pub(super) fn number(n: f64, text: String) -> Literal {
        Literal {
            value: LiteralKind::Num,
            text,
            number: Some(n),
            severity: None,
        }
    }

    pub(super) fn boolean(b: bool) -> Literal {
        Literal {
            value: LiteralKind::Bool(b),
            text: b.to_string(),
            number: None,
            severity: None,
        }
    }
}

pub(super) fn severity_named(text: &str) -> Option<Severity> {
    Severity::from_name(text)
}

/// A field path with the `Event` fields it can name decided at parse time, so evaluation
/// borrows from the event instead of building a `Value`.
#[derive(Debug, Clone)]
pub(super) enum FieldRef {
    Source,
    Category,
    Severity,
    EventType,
    Namespace,
    Kind,
    Name,
    ApiVersion,
    Rule,
    Result,
    Stage,
    Fingerprint,
    Title,
    Details(String),
    /// Anything else goes through [`Event::field`](crate::event::Event::field).
    Other(String),
}

impl FieldRef {
    pub(super) fn parse(path: &str) -> FieldRef {
        let short = path.strip_prefix("spec.").unwrap_or(path);
        match short {
            "source" => FieldRef::Source,
            "category" => FieldRef::Category,
            "severity" => FieldRef::Severity,
            "eventType" | "event_type" => FieldRef::EventType,
            "namespace" | "metadata.namespace" | "resource.namespace" => FieldRef::Namespace,
            "kind" | "resource.kind" => FieldRef::Kind,
            "name" | "resource.name" => FieldRef::Name,
            "apiVersion" | "resource.apiVersion" => FieldRef::ApiVersion,
            "rule" => FieldRef::Rule,
            "result" => FieldRef::Result,
            "stage" => FieldRef::Stage,
            "fingerprint" => FieldRef::Fingerprint,
            "title" => FieldRef::Title,
            _ => match short.strip_prefix("details.") {
                Some(rest) => FieldRef::Details(rest.to_string()),
                None => FieldRef::Other(path.to_string()),
            },
        }
    }
}
