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

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;

use serde_json::Value;

use crate::crd::{Category, Severity};
use crate::event::{Event, lookup_path};

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

// ---------------------------------------------------------------------------------------------
// Lexer

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Contains,
    StartsWith,
    EndsWith,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Cmp(CmpOp),
    Str(String),
    Num(f64),
    Word(String),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    /// 1-based character position of the first character.
    position: usize,
    /// The source text, for error messages.
    text: String,
}

struct Lexer {
    chars: Vec<char>,
    i: usize,
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

impl Lexer {
    fn new(text: &str) -> Lexer {
        Lexer {
            chars: text.chars().collect(),
            i: 0,
        }
    }

    fn peek_at(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.i + ahead).copied()
    }

    fn peek(&self) -> Option<char> {
        self.peek_at(0)
    }

    fn tokens(mut self) -> Result<Vec<Token>, ExprError> {
        let mut tokens = Vec::new();
        loop {
            while self.peek().is_some_and(is_space) {
                self.i += 1;
            }
            let Some(c) = self.peek() else {
                return Ok(tokens);
            };
            let start = self.i;
            let tok = self.token(c)?;
            tokens.push(Token {
                tok,
                position: start + 1,
                text: self.chars[start..self.i].iter().collect(),
            });
        }
    }

    fn token(&mut self, c: char) -> Result<Tok, ExprError> {
        let next = self.peek_at(1);
        let (tok, width) = match c {
            '(' => (Tok::LParen, 1),
            ')' => (Tok::RParen, 1),
            '[' => (Tok::LBracket, 1),
            ']' => (Tok::RBracket, 1),
            ',' => (Tok::Comma, 1),
            '>' if next == Some('=') => (Tok::Cmp(CmpOp::Ge), 2),
            '>' => (Tok::Cmp(CmpOp::Gt), 1),
            '<' if next == Some('=') => (Tok::Cmp(CmpOp::Le), 2),
            '<' => (Tok::Cmp(CmpOp::Lt), 1),
            '!' if next == Some('=') => (Tok::Cmp(CmpOp::Ne), 2),
            '=' if next == Some('=') => (Tok::Cmp(CmpOp::Eq), 2),
            '=' => (Tok::Cmp(CmpOp::Eq), 1),
            '"' | '\'' => return self.string(c),
            '-' if next.is_some_and(|n| n.is_ascii_digit()) => return self.negative_number(),
            c if is_word_char(c) => return Ok(self.word()),
            found => {
                return Err(ExprError::BadCharacter {
                    found,
                    position: self.i + 1,
                });
            }
        };
        self.i += width;
        Ok(tok)
    }

    fn string(&mut self, quote: char) -> Result<Tok, ExprError> {
        let position = self.i + 1;
        self.i += 1;
        let mut text = String::new();
        loop {
            let c = self
                .peek()
                .ok_or(ExprError::UnterminatedString { position })?;
            self.i += 1;
            if c == quote {
                return Ok(Tok::Str(text));
            }
            if c != '\\' {
                text.push(c);
                continue;
            }
            let escaped = self
                .peek()
                .ok_or(ExprError::UnterminatedString { position })?;
            self.i += 1;
            text.push(match escaped {
                'n' => '\n',
                't' => '\t',
                other => other,
            });
        }
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
    }

    fn negative_number(&mut self) -> Result<Tok, ExprError> {
        let start = self.i;
        self.i += 1;
        self.digits();
        if self.peek() == Some('.') && self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
            self.digits();
        }
        if let Some(found) = self.peek().filter(|&c| is_word_char(c) || c == '.') {
            return Err(ExprError::BadCharacter {
                found,
                position: self.i + 1,
            });
        }
        let text: String = self.chars[start..self.i].iter().collect();
        match parse_number(&text) {
            Some(n) => Ok(Tok::Num(n)),
            None => Err(ExprError::Unexpected {
                expected: "a number",
                position: start + 1,
                found: format!("{text:?}"),
            }),
        }
    }

    /// A field path, keyword, macro, bare identifier or unsigned number: `[A-Za-z0-9_]`
    /// segments (with `-` after their first character) joined by dots.
    fn word(&mut self) -> Tok {
        let start = self.i;
        loop {
            self.i += 1;
            while self.peek().is_some_and(|c| is_word_char(c) || c == '-') {
                self.i += 1;
            }
            if !(self.peek() == Some('.') && self.peek_at(1).is_some_and(is_word_char)) {
                break;
            }
            self.i += 1;
        }
        let text: String = self.chars[start..self.i].iter().collect();
        match parse_number(&text) {
            Some(n) if is_plain_number(&text) => Tok::Num(n),
            _ => Tok::Word(text),
        }
    }
}

/// `digits [. digits]`: what an unquoted number looks like (the sign is lexed separately).
fn is_plain_number(text: &str) -> bool {
    let (int, frac) = text.split_once('.').unwrap_or((text, "0"));
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    all_digits(int) && all_digits(frac)
}

/// A number, or a string holding one. Stricter than `f64::from_str`, which would also take
/// `inf` and `NaN`.
fn parse_number(text: &str) -> Option<f64> {
    let numeric = |b: u8| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E');
    let bytes = text.as_bytes();
    if !bytes.iter().any(u8::is_ascii_digit) || !bytes.iter().all(|&b| numeric(b)) {
        return None;
    }
    text.parse().ok()
}

// ---------------------------------------------------------------------------------------------
// Parser

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keyword {
    And,
    Or,
    Not,
    In,
    Exists,
    Contains,
    StartsWith,
    EndsWith,
    True,
    False,
}

const KEYWORDS: [(&str, Keyword); 10] = [
    ("and", Keyword::And),
    ("or", Keyword::Or),
    ("not", Keyword::Not),
    ("in", Keyword::In),
    ("exists", Keyword::Exists),
    ("contains", Keyword::Contains),
    ("starts_with", Keyword::StartsWith),
    ("ends_with", Keyword::EndsWith),
    ("true", Keyword::True),
    ("false", Keyword::False),
];

fn keyword(token: &Token) -> Option<Keyword> {
    let Tok::Word(word) = &token.tok else {
        return None;
    };
    KEYWORDS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(word))
        .map(|&(_, kw)| kw)
}

fn is_macro(word: &str) -> bool {
    word.len() > 3
        && word.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("is_"))
        && !word.contains('.')
}

fn macro_node(word: &str) -> Option<Node> {
    let name = word.get(3..)?;
    let severity = Severity::ALL
        .into_iter()
        .find(|s| name.eq_ignore_ascii_case(s.as_str()));
    if let Some(severity) = severity {
        return Some(Node::Severity(severity));
    }
    [
        Category::Security,
        Category::Compliance,
        Category::Performance,
        Category::Operations,
        Category::Cost,
    ]
    .into_iter()
    .find(|c| name.eq_ignore_ascii_case(c.as_str()))
    .map(Node::Category)
}

struct Parser {
    tokens: Vec<Token>,
    i: usize,
    end_position: usize,
}

impl Parser {
    fn new(tokens: Vec<Token>, length: usize) -> Parser {
        Parser {
            tokens,
            i: 0,
            end_position: length + 1,
        }
    }

    fn parse(mut self) -> Result<Node, ExprError> {
        let node = self.or(0)?;
        if !self.at_end() {
            return Err(self.unexpected("AND, OR or end of input"));
        }
        Ok(node)
    }

    fn at_end(&self) -> bool {
        self.i >= self.tokens.len()
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.i)
    }

    fn peek_tok(&self) -> Option<&Tok> {
        self.peek().map(|t| &t.tok)
    }

    fn peek_keyword(&self) -> Option<Keyword> {
        self.peek().and_then(keyword)
    }

    fn position(&self) -> usize {
        self.peek().map_or(self.end_position, |t| t.position)
    }

    fn bump(&mut self) {
        self.i += 1;
    }

    fn unexpected(&self, expected: &'static str) -> ExprError {
        let found = match self.peek() {
            Some(token) => format!("{:?}", token.text),
            None => "end of input".to_string(),
        };
        ExprError::Unexpected {
            expected,
            position: self.position(),
            found,
        }
    }

    fn or(&mut self, depth: usize) -> Result<Node, ExprError> {
        let mut terms = vec![self.and(depth)?];
        while self.peek_keyword() == Some(Keyword::Or) {
            self.bump();
            terms.push(self.and(depth)?);
        }
        Ok(flatten(terms, Node::Or))
    }

    fn and(&mut self, depth: usize) -> Result<Node, ExprError> {
        let mut terms = vec![self.not(depth)?];
        while self.peek_keyword() == Some(Keyword::And) {
            self.bump();
            terms.push(self.not(depth)?);
        }
        Ok(flatten(terms, Node::And))
    }

    /// Enters one more level of nesting at the current token.
    fn nest(&mut self, depth: usize) -> Result<usize, ExprError> {
        if depth >= MAX_DEPTH {
            return Err(ExprError::TooDeep {
                position: self.position(),
            });
        }
        self.bump();
        Ok(depth + 1)
    }

    fn not(&mut self, depth: usize) -> Result<Node, ExprError> {
        if self.peek_keyword() == Some(Keyword::Not) {
            let depth = self.nest(depth)?;
            return Ok(Node::Not(Box::new(self.not(depth)?)));
        }
        self.condition(depth)
    }

    fn condition(&mut self, depth: usize) -> Result<Node, ExprError> {
        match self.peek_tok() {
            Some(Tok::LParen) => {
                let depth = self.nest(depth)?;
                let inner = self.or(depth)?;
                if self.peek_tok() != Some(&Tok::RParen) {
                    return Err(self.unexpected("AND, OR or \")\""));
                }
                self.bump();
                Ok(inner)
            }
            Some(Tok::Word(word)) if is_macro(word) => {
                let node = macro_node(word).ok_or_else(|| ExprError::UnknownMacro {
                    name: word.clone(),
                    position: self.position(),
                });
                self.bump();
                node
            }
            _ => {
                let left = self.operand()?;
                self.comparison(left)
            }
        }
    }

    fn operand(&mut self) -> Result<Operand, ExprError> {
        let Some(token) = self.peek() else {
            return Err(self.unexpected("an operand"));
        };
        let literal = match &token.tok {
            Tok::Str(s) => Literal::string(s.clone()),
            Tok::Num(n) => Literal::number(*n, token.text.clone()),
            Tok::Word(word) => match keyword(token) {
                Some(Keyword::True) => Literal::boolean(true),
                Some(Keyword::False) => Literal::boolean(false),
                Some(_) => return Err(self.unexpected("an operand")),
                None if is_macro(word) => return Err(self.unexpected("an operand")),
                None => {
                    let field = Operand::Field(FieldRef::parse(word));
                    self.bump();
                    return Ok(field);
                }
            },
            Tok::LBracket => {
                return Err(self.unexpected("an operand (a list is only allowed after IN)"));
            }
            _ => return Err(self.unexpected("an operand")),
        };
        self.bump();
        Ok(Operand::Literal(literal))
    }

    /// What follows a left operand: an operator and its right side, or nothing for a boolean.
    fn comparison(&mut self, left: Operand) -> Result<Node, ExprError> {
        let op = match (self.peek_keyword(), self.peek_tok()) {
            (Some(Keyword::Not), _) => {
                self.bump();
                return self.negated_postfix(left);
            }
            (Some(Keyword::In), _) => {
                self.bump();
                return self.in_list(left);
            }
            (Some(Keyword::Exists), _) => {
                self.bump();
                return Ok(Node::Exists(left));
            }
            (Some(Keyword::Contains), _) => CmpOp::Contains,
            (Some(Keyword::StartsWith), _) => CmpOp::StartsWith,
            (Some(Keyword::EndsWith), _) => CmpOp::EndsWith,
            (None, Some(Tok::Cmp(op))) => *op,
            _ => return self.bare(left),
        };
        self.bump();
        let right = self.operand()?;
        Ok(Node::Compare { left, op, right })
    }

    fn negated_postfix(&mut self, left: Operand) -> Result<Node, ExprError> {
        let node = match self.peek_keyword() {
            Some(Keyword::In) => {
                self.bump();
                self.in_list(left)?
            }
            Some(Keyword::Exists) => {
                self.bump();
                Node::Exists(left)
            }
            _ => return Err(self.unexpected("IN or EXISTS after NOT")),
        };
        Ok(Node::Not(Box::new(node)))
    }

    /// An operand with no operator: only `true` and `false` are conditions by themselves.
    fn bare(&self, left: Operand) -> Result<Node, ExprError> {
        match left {
            Operand::Literal(Literal {
                value: LiteralKind::Bool(b),
                ..
            }) => Ok(Node::Const(b)),
            _ => Err(self.unexpected("a comparison operator")),
        }
    }

    fn in_list(&mut self, left: Operand) -> Result<Node, ExprError> {
        if self.peek_tok() != Some(&Tok::LBracket) {
            return Err(self.unexpected("a list like [\"a\", \"b\"] after IN"));
        }
        self.bump();
        let mut items = Vec::new();
        if self.peek_tok() == Some(&Tok::RBracket) {
            self.bump();
            return Ok(Node::In(left, items));
        }
        loop {
            items.push(self.list_item()?);
            match self.peek_tok() {
                Some(Tok::Comma) => self.bump(),
                Some(Tok::RBracket) => {
                    self.bump();
                    return Ok(Node::In(left, items));
                }
                _ => return Err(self.unexpected("\",\" or \"]\"")),
            }
        }
    }

    fn list_item(&mut self) -> Result<Literal, ExprError> {
        let literal = match self.peek() {
            Some(Token {
                tok: Tok::Str(s) | Tok::Word(s),
                ..
            }) => Literal::string(s.clone()),
            Some(Token {
                tok: Tok::Num(n),
                text,
                ..
            }) => Literal::number(*n, text.clone()),
            _ => return Err(self.unexpected("a list item (string, number or identifier)")),
        };
        self.bump();
        Ok(literal)
    }
}

fn flatten(mut terms: Vec<Node>, combine: fn(Vec<Node>) -> Node) -> Node {
    match terms.pop() {
        Some(only) if terms.is_empty() => only,
        Some(last) => {
            terms.push(last);
            combine(terms)
        }
        None => combine(terms),
    }
}

// ---------------------------------------------------------------------------------------------
// Compiled form and evaluation

#[derive(Debug, Clone)]
enum Node {
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

impl Node {
    fn eval(&self, event: &Event) -> bool {
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

#[derive(Debug, Clone)]
enum Operand {
    Field(FieldRef),
    Literal(Literal),
}

impl Operand {
    fn resolve<'a>(&'a self, event: &'a Event) -> Val<'a> {
        match self {
            Operand::Field(field) => field.resolve(event),
            Operand::Literal(literal) => Val::Lit(literal),
        }
    }
}

#[derive(Debug, Clone)]
enum LiteralKind {
    Str,
    Num,
    Bool(bool),
}

/// A constant with its number and severity interpretations worked out at parse time.
#[derive(Debug, Clone)]
struct Literal {
    value: LiteralKind,
    text: String,
    number: Option<f64>,
    severity: Option<Severity>,
}

impl Literal {
    fn string(text: String) -> Literal {
        Literal {
            value: LiteralKind::Str,
            number: parse_number(&text),
            severity: severity_named(&text),
            text,
        }
    }

    fn number(n: f64, text: String) -> Literal {
        Literal {
            value: LiteralKind::Num,
            text,
            number: Some(n),
            severity: None,
        }
    }

    fn boolean(b: bool) -> Literal {
        Literal {
            value: LiteralKind::Bool(b),
            text: b.to_string(),
            number: None,
            severity: None,
        }
    }
}

fn severity_named(text: &str) -> Option<Severity> {
    Severity::ALL
        .into_iter()
        .find(|s| s.as_str().eq_ignore_ascii_case(text))
}

/// A field path with the `Event` fields it can name decided at parse time, so evaluation
/// borrows from the event instead of building a `Value`.
#[derive(Debug, Clone)]
enum FieldRef {
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
    /// Anything else goes through [`Event::field`].
    Other(String),
}

impl FieldRef {
    fn parse(path: &str) -> FieldRef {
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

    fn resolve<'a>(&'a self, event: &'a Event) -> Val<'a> {
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
enum Val<'a> {
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
    fn text(&self) -> Cow<'_, str> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn event() -> Event {
        let details = json!({
            "rule": "Terminal shell in container",
            "priority": "Warning",
            "count": 7,
            "score": "8.5",
            "flag": true,
            "nothing": null,
            "output_fields": {"k8s.pod.name": "web-1", "user.name": "root"},
            "tags": ["mitre", "shell"],
        });
        let mut e = Event::about_pod_for_tests("falco", Severity::High, details);
        e.title = Some("Shell spawned".into());
        e.facts.rule = Some("Terminal shell in container".into());
        e
    }

    fn eval(text: &str) -> bool {
        match Expression::parse(text) {
            Ok(e) => e.matches(&event()),
            Err(err) => panic!("{text:?} does not parse: {err}"),
        }
    }

    fn error(text: &str) -> String {
        match Expression::parse(text) {
            Ok(e) => panic!("{text:?} parsed: {e:?}"),
            Err(err) => err.to_string(),
        }
    }

    #[test]
    fn equality_and_inequality() {
        assert!(eval(r#"source = "falco""#));
        assert!(eval(r#"source == "FALCO""#));
        assert!(eval(r#"namespace != "dev""#));
        assert!(!eval(r#"namespace != "Shop""#));
        assert!(eval(r#""shop" = namespace"#));
        assert!(
            !eval("kind = pod"),
            "a bare identifier is a field path, here missing"
        );
        assert!(!eval(r#"kind = "pods""#));
        assert!(eval("details.flag = true"));
        assert!(eval("details.flag != false"));
        assert!(eval("namespace = metadata.namespace"));
    }

    #[test]
    fn numbers_compare_numerically() {
        assert!(eval("details.count = 7"));
        assert!(eval("details.count = 7.0"));
        assert!(eval(r#"details.count = "7""#));
        assert!(eval("details.count > 6.5"));
        assert!(eval("details.count >= 7"));
        assert!(
            eval("details.count < 10"),
            "10 < 7 lexicographically, not numerically"
        );
        assert!(eval("details.count <= 7"));
        assert!(!eval("details.count < 7"));
        assert!(
            eval("details.score > 8"),
            "numeric strings compare as numbers"
        );
        assert!(eval("details.count > -1"));
        assert!(!eval(r#"details.count = "seven""#));
    }

    #[test]
    fn severities_order_by_rank() {
        assert!(eval(r#"severity >= "high""#));
        assert!(eval(r#"severity >= "HIGH""#));
        assert!(eval(r#"severity > "medium""#));
        assert!(!eval(r#"severity > "high""#));
        assert!(!eval(r#"severity >= "critical""#));
        assert!(eval(r#"severity < "critical""#));
        assert!(eval(r#"severity <= 'high'"#));
        assert!(eval(r#""info" < severity"#));
    }

    #[test]
    fn other_strings_order_lexicographically_ignoring_case() {
        assert!(eval(r#"namespace > "alpha""#));
        assert!(eval(r#"namespace < "ZOO""#));
        assert!(eval(r#"namespace >= "shop""#));
        assert!(
            eval(r#"details.output_fields.user.name > 5"#),
            "\"root\" > \"5\""
        );
    }

    #[test]
    fn string_matching_ignores_case() {
        assert!(eval(r#"rule CONTAINS "SHELL""#));
        assert!(eval(r#"rule contains """#));
        assert!(!eval(r#"rule CONTAINS "bash""#));
        assert!(eval(r#"rule STARTS_WITH "terminal""#));
        assert!(!eval(r#"rule STARTS_WITH "shell""#));
        assert!(eval(r#"rule ENDS_WITH "Container""#));
        assert!(!eval(
            r#"rule ends_with "a much longer text than the rule itself, surely""#
        ));
        assert!(eval(r#"details.count STARTS_WITH "7""#));
        assert!(
            eval(r#"details.tags CONTAINS "mitre""#),
            "arrays match on their JSON text"
        );
    }

    #[test]
    fn in_and_not_in() {
        assert!(eval(r#"namespace IN ["dev", "shop"]"#));
        assert!(eval("namespace in [dev, SHOP]"));
        assert!(!eval("namespace IN []"));
        assert!(eval("namespace NOT IN [dev, test]"));
        assert!(!eval("namespace not in [shop]"));
        assert!(eval("details.count IN [1, 7.0, 'x']"));
        assert!(eval("namespace IN [kube-system, shop]"));
        assert!(!eval("details.missing IN [a]"));
        assert!(eval("details.missing NOT IN [a]"));
    }

    #[test]
    fn exists_is_postfix() {
        assert!(eval("details.priority EXISTS"));
        assert!(!eval("details.missing EXISTS"));
        assert!(
            !eval("details.nothing EXISTS"),
            "a JSON null does not exist"
        );
        assert!(eval("details.missing NOT EXISTS"));
        assert!(eval(r#"details.priority EXISTS AND severity >= "high""#));
        assert!(eval(
            r#"details.missing NOT EXISTS AND severity >= "high" AND true"#
        ));
        assert!(!eval(
            r#"details.priority exists and severity >= "critical""#
        ));
        assert!(eval("stage not exists or stage = ResponseComplete"));
    }

    #[test]
    fn null_handling() {
        assert!(eval("details.missing = details.other"), "null = null");
        assert!(!eval(r#"details.missing = """#));
        assert!(eval(r#"details.missing != "x""#));
        assert!(!eval("details.missing > 1"));
        assert!(!eval("details.missing <= 1"));
        assert!(eval(r#"details.missing CONTAINS """#));
        assert!(!eval(r#"details.missing CONTAINS "a""#));
        assert!(!eval(r#"nonsense = "x""#));
        assert!(!eval(r#"stage = "x""#));
    }

    #[test]
    fn precedence_is_not_then_and_then_or() {
        // OR binds looser than AND: true OR (false AND false).
        assert!(eval("true OR false AND false"));
        // (true OR false) AND false with explicit parentheses.
        assert!(!eval("(true OR false) AND false"));
        // NOT binds tighter than AND: (NOT false) AND true.
        assert!(eval("NOT false AND true"));
        assert!(!eval("NOT (false OR true)"));
        assert!(eval("NOT NOT true"));
        assert!(eval(r#"NOT namespace = "dev" AND (is_low OR is_high)"#));
        assert!(eval("((((is_high))))"));
    }

    #[test]
    fn keywords_are_case_insensitive() {
        assert!(eval(
            r#"namespace not in [dev] and not (source = "x" or false) AnD tRuE"#
        ));
        assert!(eval("IS_HIGH AND Is_Security"));
        assert!(eval("rule Starts_With terminal"));
        assert!(eval("TRUE"));
    }

    #[test]
    fn keywords_need_a_word_boundary() {
        // `andy` and `order` are field paths, not AND / OR.
        assert!(eval("details.andy NOT EXISTS"));
        assert!(eval("order NOT EXISTS"));
        assert!(eval("true AND(true)"));
    }

    #[test]
    fn macros() {
        assert!(eval("is_high"));
        for m in ["is_critical", "is_medium", "is_low", "is_info"] {
            assert!(!eval(m), "{m}");
        }
        assert!(eval("is_security"));
        for m in [
            "is_compliance",
            "is_performance",
            "is_operations",
            "is_cost",
        ] {
            assert!(!eval(m), "{m}");
        }
    }

    #[test]
    fn quoting_and_escapes() {
        let e = Expression::parse(r#"title = "say \"hi\"\n\tok\\ \x""#).unwrap();
        let Node::Compare { right, .. } = &e.root else {
            panic!("not a comparison: {e:?}");
        };
        let Operand::Literal(lit) = right else {
            panic!("not a literal");
        };
        assert_eq!(lit.text, "say \"hi\"\n\tok\\ x");
        let single = Expression::parse(r"title = 'it\'s'").unwrap();
        let Node::Compare {
            right: Operand::Literal(lit),
            ..
        } = &single.root
        else {
            panic!("not a comparison");
        };
        assert_eq!(lit.text, "it's");
        assert!(eval(r#"title = 'Shell spawned'"#));
        assert!(eval("title = \"shell SPAWNED\""));
        assert!(eval("\ttitle\r\n=\n'shell spawned' "));
    }

    #[test]
    fn field_paths_agree_with_event_field() {
        let e = event();
        for path in [
            "source",
            "category",
            "severity",
            "eventType",
            "event_type",
            "namespace",
            "metadata.namespace",
            "spec.resource.namespace",
            "kind",
            "spec.resource.kind",
            "name",
            "apiVersion",
            "rule",
            "result",
            "stage",
            "fingerprint",
            "title",
            "spec.severity",
            "details.count",
            "details.output_fields.k8s.pod.name",
            "spec.details.tags.1",
            "details.missing",
            "nonsense",
        ] {
            let expected = e.field(path).filter(|v| !v.is_null());
            let field = FieldRef::parse(path);
            let got = match field.resolve(&e) {
                Val::Null => None,
                Val::Num(n) => Some(json!(n)),
                other => Some(Value::String(other.text().into_owned())),
            };
            let expected = expected.map(|v| match v {
                Value::Number(n) => json!(n.as_f64()),
                Value::String(s) => Value::String(s),
                other => Value::String(other.to_string()),
            });
            assert_eq!(got, expected, "{path}");
        }
    }

    #[test]
    fn display_keeps_the_source() {
        let text = "severity   >= 'high'";
        let e = Expression::parse(text).unwrap();
        assert_eq!(e.to_string(), text);
        assert_eq!(e.as_str(), text);
        assert_eq!(e, Expression::parse(text).unwrap());
    }

    #[test]
    fn errors_name_the_position() {
        let cases = [
            (
                "(severity = 'high'",
                r#"expected AND, OR or ")" at position 19, found end of input"#,
            ),
            (
                "severity = 'high')",
                r#"expected AND, OR or end of input at position 18, found ")""#,
            ),
            ("title = 'abc", "unterminated string starting at position 9"),
            (
                "title = \"abc\\\"",
                "unterminated string starting at position 9",
            ),
            ("is_urgent", "unknown macro \"is_urgent\" at position 1"),
            (
                "true AND (severity = )",
                r#"expected an operand at position 22, found ")""#,
            ),
            ("", "expected an operand at position 1, found end of input"),
            (
                "severity = 'high' namespace",
                r#"expected AND, OR or end of input at position 19, found "namespace""#,
            ),
            (
                "namespace IN dev",
                r#"expected a list like ["a", "b"] after IN at position 14, found "dev""#,
            ),
            (
                "namespace NOT IN 'dev'",
                r#"expected a list like ["a", "b"] after IN at position 18, found "'dev'""#,
            ),
            (
                "namespace IN [a b]",
                r#"expected "," or "]" at position 17, found "b""#,
            ),
            (
                "namespace IN [a,]",
                "expected a list item (string, number or identifier) at position 17",
            ),
            (
                "severity AND true",
                r#"expected a comparison operator at position 10, found "AND""#,
            ),
            (
                "namespace",
                "expected a comparison operator at position 10, found end of input",
            ),
            (
                "namespace NOT 'x'",
                r#"expected IN or EXISTS after NOT at position 15, found "'x'""#,
            ),
            ("severity = AND", r#"expected an operand at position 12"#),
            (
                "severity = is_high",
                r#"expected an operand at position 12"#,
            ),
            (
                "x = [1]",
                "expected an operand (a list is only allowed after IN) at position 5",
            ),
            ("severity ! 'x'", "unexpected character '!' at position 10"),
            ("a = b @", "unexpected character '@' at position 7"),
            ("a = -5x", "unexpected character 'x' at position 7"),
            (
                "NOT",
                "expected an operand at position 4, found end of input",
            ),
            (
                "a = 1 OR",
                "expected an operand at position 9, found end of input",
            ),
            ("()", r#"expected an operand at position 2, found ")""#),
        ];
        for (text, message) in cases {
            let got = error(text);
            assert!(
                got.contains(message),
                "{text:?}: got {got:?}, want {message:?}"
            );
        }
    }

    #[test]
    fn nesting_and_length_are_limited() {
        let deep = format!("{}true{}", "(".repeat(100), ")".repeat(100));
        assert_eq!(
            error(&deep),
            format!("expression nests deeper than {MAX_DEPTH} levels at position 65")
        );
        let nots = format!("{}true", "NOT ".repeat(100));
        assert!(error(&nots).starts_with("expression nests deeper than 64 levels at position"));
        let ok = format!("{}true{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert!(eval(&ok));
        let long = format!("title = '{}'", "x".repeat(MAX_LENGTH));
        assert_eq!(
            error(&long),
            format!(
                "expression is {} characters long, more than the limit of 4096",
                MAX_LENGTH + 10
            )
        );
        assert_eq!(Expression::parse(&long).unwrap_err().position(), None);
    }

    #[test]
    fn error_positions_count_characters_not_bytes() {
        let err = Expression::parse("title = 'é' )").unwrap_err();
        assert_eq!(err.position(), Some(13));
    }

    /// A well-formed expression, printed.
    #[derive(Debug, Clone)]
    enum Gen {
        Leaf(String),
        Not(Box<Gen>),
        And(Box<Gen>, Box<Gen>),
        Or(Box<Gen>, Box<Gen>),
    }

    impl Gen {
        fn print(&self) -> String {
            match self {
                Gen::Leaf(s) => s.clone(),
                Gen::Not(e) => format!("NOT ({})", e.print()),
                Gen::And(a, b) => format!("({}) and ({})", a.print(), b.print()),
                Gen::Or(a, b) => format!("({}) OR {}", a.print(), b.print()),
            }
        }
    }

    fn field() -> impl Strategy<Value = String> {
        prop::sample::select(vec![
            "severity",
            "namespace",
            "kind",
            "source",
            "rule",
            "stage",
            "details.count",
            "details.score",
            "details.flag",
            "details.nothing",
            "details.tags",
            "details.output_fields.user.name",
            "spec.details.missing.x",
            "nonsense",
        ])
        .prop_map(str::to_string)
    }

    fn literal() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-zA-Z0-9 _.-]{0,8}".prop_map(|s| format!("{s:?}")),
            any::<i32>().prop_map(|n| n.to_string()),
            (0u32..1000, 0u32..100).prop_map(|(a, b)| format!("{a}.{b}")),
            prop::sample::select(vec!["true", "false", "'high'", "\"Info\"", "'shop'"])
                .prop_map(str::to_string),
        ]
    }

    fn operand() -> impl Strategy<Value = String> {
        prop_oneof![field(), literal()]
    }

    fn leaf() -> impl Strategy<Value = Gen> {
        let op = prop::sample::select(vec![
            "=",
            "==",
            "!=",
            ">",
            ">=",
            "<",
            "<=",
            "CONTAINS",
            "starts_with",
            "Ends_With",
        ]);
        let macro_name = prop::sample::select(vec![
            "is_critical",
            "is_high",
            "IS_MEDIUM",
            "is_low",
            "is_info",
            "is_security",
            "is_compliance",
            "is_performance",
            "is_operations",
            "is_cost",
        ]);
        prop_oneof![
            (operand(), op, operand()).prop_map(|(a, op, b)| format!("{a} {op} {b}")),
            (operand(), prop::bool::ANY)
                .prop_map(|(a, not)| { format!("{a} {}EXISTS", if not { "NOT " } else { "" }) }),
            (
                operand(),
                prop::bool::ANY,
                prop::collection::vec(literal(), 0..4)
            )
                .prop_map(|(a, not, items)| {
                    format!(
                        "{a} {}IN [{}]",
                        if not { "not " } else { "" },
                        items.join(", ")
                    )
                }),
            macro_name.prop_map(str::to_string),
            prop::sample::select(vec!["true", "false"]).prop_map(str::to_string),
        ]
        .prop_map(Gen::Leaf)
    }

    fn expression() -> impl Strategy<Value = Gen> {
        leaf().prop_recursive(6, 48, 2, |inner| {
            prop_oneof![
                inner.clone().prop_map(|e| Gen::Not(Box::new(e))),
                (inner.clone(), inner.clone())
                    .prop_map(|(a, b)| Gen::And(Box::new(a), Box::new(b))),
                (inner.clone(), inner).prop_map(|(a, b)| Gen::Or(Box::new(a), Box::new(b))),
            ]
        })
    }

    fn events() -> Vec<Event> {
        let mut quiet = event();
        quiet.severity = Severity::Info;
        quiet.category = Category::Operations;
        quiet.resource = None;
        quiet.details.clear();
        quiet.facts.stage = Some("ResponseComplete".into());
        vec![event(), quiet]
    }

    proptest! {
        #[test]
        fn parse_never_panics_on_arbitrary_text(text in ".{0,300}") {
            let _ = Expression::parse(&text);
        }

        #[test]
        fn parse_never_panics_on_expression_like_text(
            text in r#"[a-z_. ()\[\],'"=<>!0-9\\-]{0,120}|((NOT|AND|OR|IN|EXISTS|\(|\)|\[|\]|x|'s'|1|=|,) ){0,40}"#
        ) {
            let _ = Expression::parse(&text);
        }

        #[test]
        fn generated_expressions_parse_and_evaluate(e in expression()) {
            let text = e.print();
            let parsed = Expression::parse(&text);
            prop_assert!(parsed.is_ok(), "{text:?}: {:?}", parsed.err());
            if let Ok(parsed) = parsed {
                for ev in events() {
                    let _ = parsed.matches(&ev);
                }
            }
        }

        #[test]
        fn not_negates(e in expression()) {
            let text = e.print();
            let plain = Expression::parse(&text);
            let negated = Expression::parse(&format!("NOT ({text})"));
            prop_assert!(plain.is_ok() && negated.is_ok());
            if let (Ok(plain), Ok(negated)) = (plain, negated) {
                for ev in events() {
                    prop_assert_eq!(negated.matches(&ev), !plain.matches(&ev));
                }
            }
        }
    }
}
