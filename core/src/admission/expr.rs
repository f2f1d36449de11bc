//! The filter expression language, e.g. `severity >= "high" AND namespace NOT IN [dev, test]`.
//!
//! ```text
//! expr    := and ( OR and )*
//! and     := not ( AND not )*
//! not     := NOT not | cmp
//! cmp     := ( expr ) | macro | operand [ op operand ] | operand EXISTS | operand NOT EXISTS
//!          | operand IN list | operand NOT IN list
//! op      := >= | <= | != | == | = | > | < | CONTAINS | STARTS_WITH | ENDS_WITH
//! operand := string | number | true | false | fieldpath
//! list    := [ [ item ( , item )* ] ]      item := string | number | bare identifier
//! macro   := is_critical | is_high | is_medium | is_low | is_info
//!          | is_security | is_compliance | is_performance | is_operations | is_cost
//! ```
//!
//! Keywords are case-insensitive. Field paths resolve like [`Event::field`]; a missing field is
//! null. String comparisons ignore ASCII case. `=` and `!=` compare numerically when both sides
//! are numbers (or numeric strings); the orderings `< <= > >=` also rank severity names, and are
//! false when either side is null. Type errors (a bare field where a condition is expected, `IN`
//! without a list) are parse errors, so evaluation cannot fail.

mod ast;
mod eval;
mod lexer;
mod parser;

use std::fmt;

use crate::event::Event;
use ast::Node;
use lexer::Lexer;
use parser::Parser;

/// The longest expression accepted, in characters (the CRD's `maxLength`).
pub const MAX_LENGTH: usize = 4096;
/// The deepest nesting of parentheses and `NOT`s accepted.
pub const MAX_DEPTH: usize = 64;

/// Why an expression does not parse. Positions are 1-based character offsets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExprError {
    #[error("expected {expected} at position {position}, found {found}")]
    Unexpected {
        expected: &'static str,
        position: usize,
        found: String,
    },
    #[error("unexpected character {found:?} at position {position}")]
    BadCharacter { found: char, position: usize },
    #[error("unterminated string starting at position {position}")]
    UnterminatedString { position: usize },
    #[error(
        "unknown macro {name:?} at position {position} (known: is_critical, is_high, is_medium, \
         is_low, is_info, is_security, is_compliance, is_performance, is_operations, is_cost)"
    )]
    UnknownMacro { name: String, position: usize },
    #[error("expression nests deeper than {MAX_DEPTH} levels at position {position}")]
    TooDeep { position: usize },
    #[error("expression is {length} characters long, more than the limit of {MAX_LENGTH}")]
    TooLong { length: usize },
}

impl ExprError {
    /// Where the error is, if it is at one place.
    pub fn position(&self) -> Option<usize> {
        match self {
            ExprError::Unexpected { position, .. }
            | ExprError::BadCharacter { position, .. }
            | ExprError::UnterminatedString { position }
            | ExprError::UnknownMacro { position, .. }
            | ExprError::TooDeep { position } => Some(*position),
            ExprError::TooLong { .. } => None,
        }
    }
}

/// A compiled filter expression. Parse once, evaluate per event.
#[derive(Clone, Debug)]
pub struct Expression {
    source: String,
    root: Node,
}

impl Expression {
    /// Parses and type-checks `text`.
    pub fn parse(text: &str) -> Result<Expression, ExprError> {
        let length = text.chars().count();
        if length > MAX_LENGTH {
            return Err(ExprError::TooLong { length });
        }
        let tokens = Lexer::new(text).tokens()?;
        let root = Parser::new(tokens, length).parse()?;
        Ok(Expression {
            source: text.to_string(),
            root,
        })
    }

    /// Whether `event` satisfies the expression.
    pub fn matches(&self, event: &Event) -> bool {
        self.root.eval(event)
    }

    /// The text the expression was parsed from.
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

impl PartialEq for Expression {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl fmt::Display for Expression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

#[cfg(test)]
mod tests;
