//! Text to tokens.

use super::ExprError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CmpOp {
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
pub(super) enum Tok {
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
pub(super) struct Token {
    pub(super) tok: Tok,
    /// 1-based character position of the first character.
    pub(super) position: usize,
    /// The source text, for error messages.
    pub(super) text: String,
}

pub(super) struct Lexer {
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
    pub(super) fn new(text: &str) -> Lexer {
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

    pub(super) fn tokens(mut self) -> Result<Vec<Token>, ExprError> {
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
pub(super) fn parse_number(text: &str) -> Option<f64> {
    let numeric = |b: u8| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E');
    let bytes = text.as_bytes();
    if !bytes.iter().any(u8::is_ascii_digit) || !bytes.iter().all(|&b| numeric(b)) {
        return None;
    }
    text.parse().ok()
}
