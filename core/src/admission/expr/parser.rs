//! Tokens to a [`Node`] tree, with keywords and macros resolved and types checked.

use super::ast::{FieldRef, Literal, LiteralKind, Node, Operand};
use super::lexer::{CmpOp, Tok, Token};
use super::{ExprError, MAX_DEPTH};
use crate::crd::{Category, Severity};

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
    if let Some(severity) = Severity::from_name(name) {
        return Some(Node::Severity(severity));
    }
    Category::from_name(name).map(Node::Category)
}

pub(super) struct Parser {
    tokens: Vec<Token>,
    i: usize,
    end_position: usize,
}

impl Parser {
    pub(super) fn new(tokens: Vec<Token>, length: usize) -> Parser {
        Parser {
            tokens,
            i: 0,
            end_position: length + 1,
        }
    }

    pub(super) fn parse(mut self) -> Result<Node, ExprError> {
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
