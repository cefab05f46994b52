//! The filter grammar of RFC 7644 §3.4.2.2 and PATCH paths (§3.5.2), and
//! their evaluation over a resource's JSON form.
//!
//! Precedence: `not` binds tightest, then `and`, then `or`; parentheses
//! group. Attribute names compare without regard to case; string values
//! too, except on case-exact attributes (`id`, `externalId`, `$ref`).

use serde_json::Value;

use super::{MAX_FILTER, Refusal, Result, ScimType, get_ci};

/// `[urn:]attr[.sub]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    /// The schema URN the attribute was qualified with, if any.
    pub urn: Option<String>,
    pub attr: String,
    pub sub: Option<String>,
}

impl AttrPath {
    /// Parses one attribute path; `None` when it is not one.
    pub fn parse(text: &str) -> Option<Self> {
        let (urn, rest) = if text
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("urn:"))
        {
            let i = text.rfind(':')?;
            (Some(text[..i].to_string()), &text[i + 1..])
        } else {
            (None, text)
        };
        let (attr, sub) = match rest.split_once('.') {
            Some((a, s)) => (a, Some(s)),
            None => (rest, None),
        };
        let name_ok = |s: &str| {
            let mut chars = s.chars();
            chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '$')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        };
        if !name_ok(attr) || sub.is_some_and(|s| !name_ok(s)) {
            return None;
        }
        Some(Self {
            urn,
            attr: attr.to_string(),
            sub: sub.map(str::to_string),
        })
    }

    /// Whether the path names this schema's attribute (unqualified, or
    /// qualified with `schema`).
    pub fn in_schema(&self, schema: &str) -> bool {
        self.urn
            .as_deref()
            .is_none_or(|u| u.eq_ignore_ascii_case(schema))
    }
}

impl std::fmt::Display for AttrPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(u) = &self.urn {
            write!(f, "{u}:")?;
        }
        write!(f, "{}", self.attr)?;
        if let Some(s) = &self.sub {
            write!(f, ".{s}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    fn parse(word: &str) -> Option<Self> {
        Some(match word.to_ascii_lowercase().as_str() {
            "eq" => Self::Eq,
            "ne" => Self::Ne,
            "co" => Self::Co,
            "sw" => Self::Sw,
            "ew" => Self::Ew,
            "gt" => Self::Gt,
            "ge" => Self::Ge,
            "lt" => Self::Lt,
            "le" => Self::Le,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: Value,
    },
    Present(AttrPath),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `attr[filter]`: some value of the multi-valued `attr` matches.
    ValuePath {
        path: AttrPath,
        filter: Box<Filter>,
    },
}

/// A PATCH target: `attrPath`, or `attrPath[valFilter]` optionally followed
/// by `.subAttr`.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    pub path: AttrPath,
    pub filter: Option<Filter>,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    OpenBracket,
    CloseBracket,
    Word(String),
    Str(String),
}

fn lex(text: &str) -> Result<Vec<Token>> {
    if text.len() > MAX_FILTER {
        return Err(Refusal::filter(format!(
            "the filter is longer than {MAX_FILTER} bytes"
        )));
    }
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '(' => out.push(Token::Open),
            ')' => out.push(Token::Close),
            '[' => out.push(Token::OpenBracket),
            ']' => out.push(Token::CloseBracket),
            '"' => {
                // A JSON string: find its end, honouring escapes, and let
                // serde decode it.
                let mut end = None;
                let mut escaped = false;
                for (j, d) in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if d == '\\' {
                        escaped = true;
                    } else if d == '"' {
                        end = Some(j);
                        break;
                    }
                }
                let end = end.ok_or_else(|| Refusal::filter("a string is not closed"))?;
                let s: String = serde_json::from_str(&text[i..=end])
                    .map_err(|_| Refusal::filter("a string has a bad escape"))?;
                out.push(Token::Str(s));
            }
            _ => {
                let mut end = i + c.len_utf8();
                while let Some(&(j, d)) = chars.peek() {
                    if d.is_whitespace() || matches!(d, '(' | ')' | '[' | ']' | '"') {
                        break;
                    }
                    end = j + d.len_utf8();
                    chars.next();
                }
                out.push(Token::Word(text[i..end].to_string()));
            }
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    depth: usize,
}

/// How deep parentheses and `not` may nest: a bound on the recursion.
const MAX_DEPTH: usize = 32;

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn or(&mut self) -> Result<Filter> {
        let mut left = self.and()?;
        while self.keyword("or") {
            self.at += 1;
            let right = self.and()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            self.at += 1;
            let right = self.unary()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn nested(&mut self) -> Result<Filter> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Refusal::filter("the filter nests too deeply"));
        }
        let f = self.or()?;
        self.depth -= 1;
        Ok(f)
    }

    fn unary(&mut self) -> Result<Filter> {
        if self.keyword("not") && matches!(self.tokens.get(self.at + 1), Some(Token::Open)) {
            self.at += 2;
            let inner = self.nested()?;
            self.expect(Token::Close, ")")?;
            return Ok(Filter::Not(Box::new(inner)));
        }
        if matches!(self.peek(), Some(Token::Open)) {
            self.at += 1;
            let inner = self.nested()?;
            self.expect(Token::Close, ")")?;
            return Ok(inner);
        }
        self.attr_exp()
    }

    fn expect(&mut self, want: Token, shown: &str) -> Result<()> {
        if self.next().as_ref() == Some(&want) {
            Ok(())
        } else {
            Err(Refusal::filter(format!("expected {shown}")))
        }
    }

    fn attr_path(&mut self) -> Result<AttrPath> {
        match self.next() {
            Some(Token::Word(w)) => AttrPath::parse(&w)
                .ok_or_else(|| Refusal::filter(format!("{w:?} is not an attribute path"))),
            _ => Err(Refusal::filter("expected an attribute path")),
        }
    }

    fn attr_exp(&mut self) -> Result<Filter> {
        let path = self.attr_path()?;
        if matches!(self.peek(), Some(Token::OpenBracket)) {
            self.at += 1;
            if path.sub.is_some() {
                return Err(Refusal::filter(
                    "a value filter follows an attribute, not a sub-attribute",
                ));
            }
            let inner = self.nested()?;
            self.expect(Token::CloseBracket, "]")?;
            return Ok(Filter::ValuePath {
                path,
                filter: Box::new(inner),
            });
        }
        let op = match self.next() {
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("pr") => {
                return Ok(Filter::Present(path));
            }
            Some(Token::Word(w)) => CompareOp::parse(&w)
                .ok_or_else(|| Refusal::filter(format!("{w:?} is not an operator")))?,
            _ => {
                return Err(Refusal::filter(format!(
                    "expected an operator after {path}"
                )));
            }
        };
        let value = match self.next() {
            Some(Token::Str(s)) => Value::String(s),
            Some(Token::Word(w)) => match w.to_ascii_lowercase().as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "null" => Value::Null,
                _ => serde_json::from_str::<serde_json::Number>(&w)
                    .map(Value::Number)
                    .map_err(|_| Refusal::filter(format!("{w:?} is not a value")))?,
            },
            _ => return Err(Refusal::filter(format!("expected a value after {path}"))),
        };
        match (&value, op) {
            (Value::Bool(_) | Value::Null, CompareOp::Eq | CompareOp::Ne) => {}
            (Value::Bool(_) | Value::Null, _) => {
                return Err(Refusal::filter(
                    "true, false and null compare with eq or ne only",
                ));
            }
            (Value::Number(_), CompareOp::Co | CompareOp::Sw | CompareOp::Ew) => {
                return Err(Refusal::filter("co, sw and ew compare strings"));
            }
            _ => {}
        }
        Ok(Filter::Compare { path, op, value })
    }
}

/// Parses a filter (the `filter` query parameter).
pub fn parse(text: &str) -> Result<Filter> {
    let mut p = Parser {
        tokens: lex(text)?,
        at: 0,
        depth: 0,
    };
    if p.tokens.is_empty() {
        return Err(Refusal::filter("the filter is empty"));
    }
    let f = p.or()?;
    if p.at != p.tokens.len() {
        return Err(Refusal::filter("unexpected text after the filter"));
    }
    Ok(f)
}

/// Parses a PATCH `path`.
pub fn parse_patch_path(text: &str) -> Result<PatchPath> {
    let bad = |why: &str| Refusal::bad(ScimType::InvalidPath, format!("path {text:?}: {why}"));
    let text = text.trim();
    if let Some(open) = text.find('[') {
        let close = text.rfind(']').ok_or_else(|| bad("a [ is not closed"))?;
        if close < open {
            return Err(bad("a ] comes before its ["));
        }
        let mut path = AttrPath::parse(&text[..open]).ok_or_else(|| bad("not an attribute"))?;
        if path.sub.is_some() {
            return Err(bad("a value filter follows an attribute"));
        }
        let rest = &text[close + 1..];
        if let Some(sub) = rest.strip_prefix('.') {
            if AttrPath::parse(sub).is_none_or(|p| p.sub.is_some() || p.urn.is_some()) {
                return Err(bad("not a sub-attribute after ]"));
            }
            path.sub = Some(sub.to_string());
        } else if !rest.is_empty() {
            return Err(bad("unexpected text after ]"));
        }
        let filter = parse(&text[open + 1..close]).map_err(|e| match e {
            Refusal::Bad { detail, .. } => bad(&detail),
            e => e,
        })?;
        Ok(PatchPath {
            path,
            filter: Some(filter),
        })
    } else {
        Ok(PatchPath {
            path: AttrPath::parse(text).ok_or_else(|| bad("not an attribute path"))?,
            filter: None,
        })
    }
}

/// Attributes whose string values compare case-sensitively.
fn case_exact(name: &str) -> bool {
    ["id", "externalId", "$ref"]
        .iter()
        .any(|n| n.eq_ignore_ascii_case(name))
}

/// The values a path names on a resource (or, inside a value filter, on one
/// value of a multi-valued attribute). Multi-valued complex attributes give
/// their sub-attribute, or their `value` when none is named.
pub fn values_at<'a>(resource: &'a Value, path: &AttrPath, schema: &str) -> Vec<&'a Value> {
    let holder = match &path.urn {
        Some(u) if !u.eq_ignore_ascii_case(schema) => match get_ci(resource, u) {
            Some(ext) => ext,
            None => return Vec::new(),
        },
        _ => resource,
    };
    let Some(v) = get_ci(holder, &path.attr) else {
        return Vec::new();
    };
    let pick = |item: &'a Value| -> Option<&'a Value> {
        match (&path.sub, item) {
            (Some(s), _) => get_ci(item, s),
            (None, Value::Object(_)) => get_ci(item, "value"),
            (None, other) => Some(other),
        }
    };
    match v {
        Value::Array(items) => items.iter().filter_map(pick).collect(),
        Value::Object(_) => match &path.sub {
            Some(s) => get_ci(v, s).into_iter().collect(),
            None => vec![v],
        },
        Value::Null => Vec::new(),
        other => match &path.sub {
            Some(_) => Vec::new(),
            None => vec![other],
        },
    }
}

fn compare(actual: &Value, op: CompareOp, wanted: &Value, exact: bool) -> bool {
    use std::cmp::Ordering;
    let ord: Option<Ordering> = match (actual, wanted) {
        (Value::String(a), Value::String(b)) => {
            let (a, b) = if exact {
                (a.clone(), b.clone())
            } else {
                (a.to_lowercase(), b.to_lowercase())
            };
            return match op {
                CompareOp::Eq => a == b,
                CompareOp::Ne => a != b,
                CompareOp::Co => a.contains(&b),
                CompareOp::Sw => a.starts_with(&b),
                CompareOp::Ew => a.ends_with(&b),
                CompareOp::Gt => a > b,
                CompareOp::Ge => a >= b,
                CompareOp::Lt => a < b,
                CompareOp::Le => a <= b,
            };
        }
        (Value::Number(a), Value::Number(b)) => a
            .as_f64()
            .zip(b.as_f64())
            .and_then(|(a, b)| a.partial_cmp(&b)),
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        _ => None,
    };
    match (ord, op) {
        (Some(o), CompareOp::Eq) => o == Ordering::Equal,
        (Some(o), CompareOp::Ne) => o != Ordering::Equal,
        (Some(o), CompareOp::Gt) => o == Ordering::Greater,
        (Some(o), CompareOp::Ge) => o != Ordering::Less,
        (Some(o), CompareOp::Lt) => o == Ordering::Less,
        (Some(o), CompareOp::Le) => o != Ordering::Greater,
        (None, CompareOp::Ne) => true,
        _ => false,
    }
}

fn present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

/// Whether `resource` (of the resource type whose core schema is `schema`)
/// matches the filter.
pub fn matches(filter: &Filter, resource: &Value, schema: &str) -> bool {
    match filter {
        Filter::And(a, b) => matches(a, resource, schema) && matches(b, resource, schema),
        Filter::Or(a, b) => matches(a, resource, schema) || matches(b, resource, schema),
        Filter::Not(f) => !matches(f, resource, schema),
        Filter::Present(path) => values_at(resource, path, schema).into_iter().any(present),
        Filter::Compare { path, op, value } => {
            let found = values_at(resource, path, schema);
            let exact = case_exact(path.sub.as_deref().unwrap_or(&path.attr));
            match (op, value) {
                (CompareOp::Eq, Value::Null) => !found.into_iter().any(present),
                (CompareOp::Ne, Value::Null) => found.into_iter().any(present),
                (CompareOp::Ne, _) => !found
                    .into_iter()
                    .any(|v| compare(v, CompareOp::Eq, value, exact)),
                _ => found.into_iter().any(|v| compare(v, *op, value, exact)),
            }
        }
        Filter::ValuePath { path, filter } => {
            let holder = match &path.urn {
                Some(u) if !u.eq_ignore_ascii_case(schema) => get_ci(resource, u),
                _ => Some(resource),
            };
            match holder.and_then(|h| get_ci(h, &path.attr)) {
                Some(Value::Array(items)) => items.iter().any(|i| matches(filter, i, schema)),
                Some(v @ Value::Object(_)) => matches(filter, v, schema),
                _ => false,
            }
        }
    }
}

/// When the filter is `attr eq "value"` on one attribute (possibly in a
/// value path), that attribute and value: what the store can answer with
/// an index instead of a scan.
pub fn simple_eq(filter: &Filter) -> Option<(String, &str)> {
    match filter {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: Value::String(v),
        } => Some((path_key(path), v)),
        Filter::ValuePath { path, filter } if path.sub.is_none() => match filter.as_ref() {
            Filter::Compare {
                path: inner,
                op: CompareOp::Eq,
                value: Value::String(v),
            } if inner.urn.is_none() && inner.sub.is_none() => Some((
                format!(
                    "{}.{}",
                    path.attr.to_ascii_lowercase(),
                    inner.attr.to_ascii_lowercase()
                ),
                v,
            )),
            _ => None,
        },
        _ => None,
    }
}

fn path_key(path: &AttrPath) -> String {
    match &path.sub {
        Some(s) => format!(
            "{}.{}",
            path.attr.to_ascii_lowercase(),
            s.to_ascii_lowercase()
        ),
        None => path.attr.to_ascii_lowercase(),
    }
}

/// The value a resource sorts by on `path`: the first one (or the primary
/// one of a multi-valued attribute).
pub fn sort_key(resource: &Value, path: &AttrPath, schema: &str) -> Option<Value> {
    let values = values_at(resource, path, schema);
    values.first().map(|v| match v {
        Value::String(s) => Value::String(s.to_lowercase()),
        other => (*other).clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const U: &str = super::super::USER_SCHEMA;

    fn user() -> Value {
        json!({
            "id": "Abc", "userName": "Dana@Example.com", "active": true,
            "name": {"givenName": "Dana", "familyName": "Reyes"},
            "emails": [{"value": "dana@example.com", "type": "work"}],
            "meta": {"created": "2026-01-01T00:00:00Z"},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Ops"}
        })
    }

    fn yes(f: &str) -> bool {
        matches(&parse(f).unwrap(), &user(), U)
    }

    #[test]
    fn operators() {
        assert!(yes(r#"userName eq "dana@example.com""#));
        assert!(yes(r#"USERNAME Eq "DANA@example.com""#));
        assert!(!yes(r#"userName ne "dana@example.com""#));
        assert!(yes(r#"userName co "example""#));
        assert!(yes(r#"userName sw "dana""#));
        assert!(yes(r#"userName ew ".com""#));
        assert!(yes("userName pr"));
        assert!(!yes("title pr"));
        assert!(yes(r#"meta.created gt "2025-12-31T00:00:00Z""#));
        assert!(!yes(r#"meta.created lt "2025-12-31T00:00:00Z""#));
        assert!(yes(r#"meta.created ge "2026-01-01T00:00:00Z""#));
        assert!(yes(r#"meta.created le "2026-01-01T00:00:00Z""#));
        assert!(yes("active eq true"));
        assert!(!yes(r#"id eq "abc""#), "id is case-exact");
        assert!(yes(r#"emails[type eq "work" and value co "dana"]"#));
        assert!(yes(r#"emails.value eq "dana@example.com""#));
        assert!(yes(r#"emails eq "dana@example.com""#));
        assert!(yes(
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "ops""#
        ));
        assert!(yes(
            r#"not (name.givenName eq "Sam") and (active eq false or name.familyName sw "R")"#
        ));
        assert!(yes(r#"title eq null"#));
    }

    #[test]
    fn precedence_and_grouping() {
        // and binds tighter than or
        assert!(yes(
            r#"userName eq "x" and active eq false or active eq true"#
        ));
        assert!(!yes(
            r#"userName eq "x" and (active eq false or active eq true)"#
        ));
    }

    #[test]
    fn bad_filters_are_invalid_filter() {
        for f in [
            "",
            "userName",
            "userName eq",
            r#"userName zz "x""#,
            r#"userName eq "x"#,
            r#"(userName eq "x""#,
            r#"userName eq "x" and"#,
            "active gt true",
            r#"emails[type eq "work""#,
            "1abc eq 2",
            "ué:x eq 1",
            "urn:é",
            &"(".repeat(100),
        ] {
            match parse(f) {
                Err(Refusal::Bad {
                    scim_type: ScimType::InvalidFilter,
                    ..
                }) => {}
                other => panic!("{f:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn patch_paths() {
        let p = parse_patch_path(r#"emails[type eq "work"].value"#).unwrap();
        assert_eq!(p.path.attr, "emails");
        assert_eq!(p.path.sub.as_deref(), Some("value"));
        assert!(p.filter.is_some());
        let p = parse_patch_path(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        )
        .unwrap();
        assert_eq!(
            p.path.urn.as_deref(),
            Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
        );
        assert_eq!(p.path.attr, "manager");
        assert!(parse_patch_path("members[value eq").is_err());
        assert!(parse_patch_path("na me").is_err());
    }

    #[test]
    fn simple_eq_is_found() {
        let f = parse(r#"userName eq "a""#).unwrap();
        assert_eq!(simple_eq(&f), Some(("username".into(), "a")));
        let f = parse(r#"emails[value eq "a@b.c"]"#).unwrap();
        assert_eq!(simple_eq(&f), Some(("emails.value".into(), "a@b.c")));
        assert_eq!(simple_eq(&parse(r#"userName co "a""#).unwrap()), None);
    }
}
