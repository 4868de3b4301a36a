//! Declarative assertions: `METRIC OP EXPRESSION`, e.g. `lost == 0`,
//! `time_to_disabled < 90s`, `achieved_rate >= 0.98 * target`.
//!
//! Expressions have numbers (`0.98`, `1e3`), durations (`500ms`, `90s`, `2m`, `1h`, read as
//! seconds), metric names, `+ - * /` and parentheses. Comparisons: `== != < <= > >=`.
//! Metric names (the [`Metric`]s) are checked when the spec loads, so a typo fails before
//! anything is sent.
//! A metric that has no value (e.g. `time_to_disabled` when the mapping was never disabled)
//! makes its assertion fail and says so.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::metric::Metric;
use crate::error::{Error, Result};

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    fn holds(self, a: f64, b: f64) -> bool {
        // Equality with a tolerance: rates and times are floating point.
        let close = (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0);
        match self {
            Self::Eq => close,
            Self::Ne => !close,
            Self::Lt => a < b && !close,
            Self::Le => a < b || close,
            Self::Gt => a > b && !close,
            Self::Ge => a > b || close,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Number(f64),
    Metric(Metric),
    Binary(Box<Expr>, char, Box<Expr>),
}

impl Expr {
    /// The value, or the first metric without one.
    fn eval(&self, metrics: &BTreeMap<Metric, f64>) -> std::result::Result<f64, Metric> {
        match self {
            Self::Number(n) => Ok(*n),
            Self::Metric(metric) => metrics.get(metric).copied().ok_or(*metric),
            Self::Binary(a, op, b) => {
                let (a, b) = (a.eval(metrics)?, b.eval(metrics)?);
                Ok(match op {
                    '+' => a + b,
                    '-' => a - b,
                    '*' => a * b,
                    _ => a / b,
                })
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Number(f64),
    Ident(Metric),
    Op(char),
    Open,
    Close,
    Cmp(Cmp),
}

fn tokenize(text: &str) -> Result<Vec<Token>> {
    let bad = |why: String| Error::invalid(format!("assertion {text:?}"), why);
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() || c == '.' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_digit()
                    || chars[i] == '.'
                    || ((chars[i] == 'e' || chars[i] == 'E')
                        && chars
                            .get(i + 1)
                            .is_some_and(|n| n.is_ascii_digit() || *n == '-')))
            {
                if chars[i] == 'e' || chars[i] == 'E' {
                    i += 1;
                }
                i += 1;
            }
            let number: String = chars[start..i].iter().collect();
            let mut value: f64 = number
                .parse()
                .map_err(|_| bad(format!("{number:?} is not a number")))?;
            let unit_start = i;
            while i < chars.len() && chars[i].is_ascii_alphabetic() {
                i += 1;
            }
            let unit: String = chars[unit_start..i].iter().collect();
            value *= match unit.as_str() {
                "" | "s" => 1.0,
                "ms" => 0.001,
                "m" => 60.0,
                "h" => 3600.0,
                other => return Err(bad(format!("unknown unit {other:?} (use ms, s, m or h)"))),
            };
            tokens.push(Token::Number(value));
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let name: String = chars[start..i].iter().collect();
            let metric = Metric::parse(&name).ok_or_else(|| bad(Metric::unknown(&name)))?;
            tokens.push(Token::Ident(metric));
        } else {
            let next = chars.get(i + 1).copied();
            let (token, width) = match (c, next) {
                ('=', Some('=')) => (Token::Cmp(Cmp::Eq), 2),
                ('!', Some('=')) => (Token::Cmp(Cmp::Ne), 2),
                ('<', Some('=')) => (Token::Cmp(Cmp::Le), 2),
                ('>', Some('=')) => (Token::Cmp(Cmp::Ge), 2),
                ('<', _) => (Token::Cmp(Cmp::Lt), 1),
                ('>', _) => (Token::Cmp(Cmp::Gt), 1),
                ('+' | '-' | '*' | '/', _) => (Token::Op(c), 1),
                ('(', _) => (Token::Open, 1),
                (')', _) => (Token::Close, 1),
                _ => return Err(bad(format!("unexpected {c:?}"))),
            };
            tokens.push(token);
            i += width;
        }
    }
    Ok(tokens)
}

struct Parser<'a> {
    tokens: &'a [Token],
    at: usize,
    text: &'a str,
}

impl Parser<'_> {
    fn bad(&self, why: &str) -> Error {
        Error::invalid(format!("assertion {:?}", self.text), why)
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn expr(&mut self) -> Result<Expr> {
        let mut left = self.term()?;
        while let Some(Token::Op(op @ ('+' | '-'))) = self.peek() {
            let op = *op;
            self.at += 1;
            left = Expr::Binary(Box::new(left), op, Box::new(self.term()?));
        }
        Ok(left)
    }

    fn term(&mut self) -> Result<Expr> {
        let mut left = self.factor()?;
        while let Some(Token::Op(op @ ('*' | '/'))) = self.peek() {
            let op = *op;
            self.at += 1;
            left = Expr::Binary(Box::new(left), op, Box::new(self.factor()?));
        }
        Ok(left)
    }

    fn factor(&mut self) -> Result<Expr> {
        let token = self.peek().cloned();
        self.at += 1;
        match token {
            Some(Token::Number(n)) => Ok(Expr::Number(n)),
            Some(Token::Ident(metric)) => Ok(Expr::Metric(metric)),
            Some(Token::Op('-')) => Ok(Expr::Binary(
                Box::new(Expr::Number(0.0)),
                '-',
                Box::new(self.factor()?),
            )),
            Some(Token::Open) => {
                let inner = self.expr()?;
                if self.peek() != Some(&Token::Close) {
                    return Err(self.bad("missing `)`"));
                }
                self.at += 1;
                Ok(inner)
            }
            _ => Err(self.bad("expected a number, a duration, a metric or `(`")),
        }
    }
}

/// A parsed assertion.
#[derive(Debug, Clone, PartialEq)]
pub struct Assertion {
    text: String,
    left: Expr,
    cmp: Cmp,
    right: Expr,
}

/// An assertion's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssertionResult {
    /// The assertion as written.
    pub assertion: String,
    /// Whether it held.
    pub passed: bool,
    /// Value of the left side, if it had one.
    pub left: Option<f64>,
    /// Value of the right side, if it had one.
    pub right: Option<f64>,
    /// Why it failed, in words.
    pub detail: String,
}

impl Assertion {
    /// Parses `METRIC-EXPRESSION OP EXPRESSION`.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the assertion and what is wrong (unknown metric, bad token,
    /// missing comparison).
    pub fn parse(text: &str) -> Result<Self> {
        let tokens = tokenize(text)?;
        let split = tokens
            .iter()
            .position(|t| matches!(t, Token::Cmp(_)))
            .ok_or_else(|| {
                Error::invalid(
                    format!("assertion {text:?}"),
                    "needs one of == != < <= > >=",
                )
            })?;
        let Token::Cmp(cmp) = tokens[split] else {
            unreachable!("position found a comparison")
        };
        let side = |tokens: &[Token]| -> Result<Expr> {
            let mut parser = Parser {
                tokens,
                at: 0,
                text,
            };
            let expr = parser.expr()?;
            if parser.at != tokens.len() {
                return Err(parser
                    .bad("unexpected text after the expression (only one comparison is allowed)"));
            }
            Ok(expr)
        };
        Ok(Self {
            text: text.trim().to_owned(),
            left: side(&tokens[..split])?,
            cmp,
            right: side(&tokens[split + 1..])?,
        })
    }

    /// Checks the assertion against `metrics`.
    pub fn evaluate(&self, metrics: &BTreeMap<Metric, f64>) -> AssertionResult {
        let left = self.left.eval(metrics);
        let right = self.right.eval(metrics);
        let (passed, detail) = match (&left, &right) {
            (Ok(a), Ok(b)) if self.cmp.holds(*a, *b) => (true, String::new()),
            (Ok(a), Ok(b)) => (
                false,
                format!(
                    "{} is {}, compared with {}",
                    self.text,
                    fmt_number(*a),
                    fmt_number(*b)
                ),
            ),
            (Err(metric), _) | (_, Err(metric)) => (
                false,
                format!("{metric} has no value in this drill (it never happened)"),
            ),
        };
        AssertionResult {
            assertion: self.text.clone(),
            passed,
            left: left.ok(),
            right: right.ok(),
            detail,
        }
    }
}

fn fmt_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{n:.0}")
    } else {
        format!("{n:.4}")
    }
}

impl fmt::Display for Assertion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn metrics(pairs: &[(&str, f64)]) -> BTreeMap<Metric, f64> {
        pairs
            .iter()
            .map(|(name, v)| (Metric::parse(name).expect(name), *v))
            .collect()
    }

    fn check(text: &str, m: &BTreeMap<Metric, f64>) -> AssertionResult {
        Assertion::parse(text).unwrap().evaluate(m)
    }

    #[test]
    fn the_examples_of_the_issue_parse_and_evaluate() {
        let m = metrics(&[
            ("lost", 0.0),
            ("time_to_disabled", 42.5),
            ("achieved_rate", 495.0),
            ("target", 500.0),
        ]);
        assert!(check("lost == 0", &m).passed);
        assert!(check("time_to_disabled < 90s", &m).passed);
        assert!(!check("time_to_disabled < 1m - 20s", &m).passed);
        assert!(check("achieved_rate >= 0.98 * target", &m).passed);
        assert!(!check("achieved_rate >= 0.995 * target", &m).passed);
        assert!(check("achieved_rate / target - 1 > -0.02", &m).passed);
        assert!(check("1e3ms == 1", &m).passed);
    }

    #[test]
    fn precedence_and_parentheses_follow_arithmetic() {
        let m = metrics(&[("sent", 10.0)]);
        assert!(check("sent == 2 + 2 * 4", &m).passed);
        assert!(check("sent == (3 + 2) * 2", &m).passed);
        assert!(check("-sent == 0 - 10", &m).passed);
        assert!(check("500ms * 20 == sent", &m).passed);
    }

    #[test]
    fn a_metric_that_never_happened_fails_and_says_so() {
        let result = check("time_to_disabled < 90s", &metrics(&[]));
        assert!(!result.passed);
        assert!(
            result.detail.contains("time_to_disabled has no value"),
            "{}",
            result.detail
        );
    }

    #[test]
    fn a_failed_assertion_shows_both_values() {
        let result = check("lost == 0", &metrics(&[("lost", 3.0)]));
        assert!(!result.passed);
        assert_eq!((result.left, result.right), (Some(3.0), Some(0.0)));
        assert!(result.detail.contains("is 3"), "{}", result.detail);
    }

    #[test]
    fn malformed_assertions_are_refused_with_a_reason() {
        for (text, why) in [
            ("lost", "needs one of"),
            ("lots == 0", "unknown metric"),
            ("lost == 0 == 1", "only one comparison"),
            ("lost == (1", "missing `)`"),
            ("lost == 5parsecs", "unknown unit"),
            ("lost == 0 ; rm", "unexpected ';'"),
            ("== 3", "expected a number"),
        ] {
            let err = Assertion::parse(text).unwrap_err().to_string();
            assert!(err.contains(why), "{text}: {err}");
        }
    }

    proptest! {

        #[test]
        fn comparisons_agree_with_rust_on_integers(a in -1000i32..1000, b in -1000i32..1000) {
            let m = metrics(&[("sent", f64::from(a))]);
            let cases = [("==", a == b), ("!=", a != b), ("<", a < b), ("<=", a <= b), (">", a > b), (">=", a >= b)];
            for (op, expected) in cases {
                let text = format!("sent {op} {}", f64::from(b));
                let text = if b < 0 { format!("sent {op} 0 - {}", -b) } else { text };
                prop_assert_eq!(check(&text, &m).passed, expected, "{}", text);
            }
        }
    }
}
