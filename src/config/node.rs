//! A YAML document as a tree of located nodes, read with serde-saphyr. Validation walks this
//! tree instead of deserializing straight into structs, so that it can report every error in
//! the file at once, each at its own line and column.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    /// Where the value is used (for an alias `*a` or a merge `<<: *a`, the alias).
    pub line: u64,
    pub column: u64,
    /// Line where the value is written: differs from `line` for values that come from an
    /// anchor, so that messages can say where to fix them.
    pub defined_line: u64,
}

/// How sluice reads YAML: every leaf is kept as written so validation can judge it.
/// - repeated keys reach the tree (validation reports each one, instead of the parser
///   stopping at the first);
/// - YAML 1.2 booleans only (`no`, `on` are strings: the "Norway problem");
/// - `.nan`, `1e999` and `0755` stay strings, so they get a located message of ours
///   instead of a parser error that hides every other problem.
fn options() -> serde_saphyr::Options {
    let mut o = serde_saphyr::Options::default();
    o.duplicate_keys = serde_saphyr::options::DuplicateKeyPolicy::PassThrough;
    o.strict_booleans = true;
    o.non_finite_float_policy = serde_saphyr::options::NonFiniteFloatPolicy::AsString;
    o.leading_zero_numbers_as_strings = true;
    // We print the location ourselves and keep only the message's first line.
    o.with_snippet = false;
    o
}

/// Read a YAML document into a located tree.
pub fn read(text: &str) -> Result<Node, serde_saphyr::Error> {
    serde_saphyr::from_str_with_options(text, options())
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Value {
    /// What was found, for "must be X, found Y" messages: the kind, and a scalar's text.
    pub fn found(&self) -> String {
        fn cut(s: &str) -> String {
            let mut t: String = s.chars().take(40).collect();
            if t.len() < s.len() {
                t.push('…');
            }
            t
        }
        match self {
            Value::Null => "nothing".to_string(),
            Value::Bool(b) => format!("`{b}`"),
            Value::Int(i) => format!("the number {i}"),
            Value::Float(f) => format!("the number {f}"),
            Value::Str(s) => format!("the string `{}`", cut(s)),
            Value::Seq(_) => "a list".to_string(),
            Value::Map(_) => "a mapping".to_string(),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "nothing",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "a number",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s: Spanned<Value> = Spanned::deserialize(d)?;
        let (line, column) = (s.referenced.line(), s.referenced.column());
        Ok(Node {
            value: s.value,
            line,
            column,
            defined_line: match s.defined.line() {
                0 => line,
                l => l,
            },
        })
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Int(v.into()))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        Ok(i128::try_from(v).map_or(Value::Float(v as f64), Value::Int))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::Str(String::from_utf8_lossy(v).into_owned()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(n) = seq.next_element::<Node>()? {
            out.push(n);
        }
        Ok(Value::Seq(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(k) = map.next_key::<Node>()? {
            let v = map.next_value::<Node>()?;
            out.push((k, v));
        }
        Ok(Value::Map(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_carry_their_positions() {
        let n: Node = serde_saphyr::from_str("a: 1\nb:\n  - x\n  - {c: 5s}\n").unwrap();
        let Value::Map(m) = &n.value else {
            panic!("{n:?}")
        };
        assert_eq!((m[0].0.line, m[0].0.column), (1, 1));
        assert_eq!(m[0].1.value, Value::Int(1));
        let Value::Seq(s) = &m[1].1.value else {
            panic!()
        };
        assert_eq!((s[0].line, s[0].column), (3, 5));
        let Value::Map(inner) = &s[1].value else {
            panic!()
        };
        assert_eq!(inner[0].1.value, Value::Str("5s".into()));
        assert_eq!((inner[0].1.line, inner[0].1.column), (4, 9));
    }

    #[test]
    fn leaves_are_kept_for_validation_to_judge() {
        let n = read("a: .nan\nb: 1e999\nc: 0755\nd: no\ne: true\nf: 1\nf: 2\n").unwrap();
        let Value::Map(m) = &n.value else {
            panic!("{n:?}")
        };
        let values: Vec<&Value> = m.iter().map(|(_, v)| &v.value).collect();
        assert_eq!(
            values,
            [
                &Value::Str(".nan".into()),
                &Value::Str(".inf".into()),
                &Value::Str("0755".into()),
                &Value::Str("no".into()),
                &Value::Bool(true),
                &Value::Int(1),
                &Value::Int(2),
            ]
        );
    }

    #[test]
    fn aliased_values_remember_where_they_are_defined() {
        let n = read("a: &x 5\nb: *x\n").unwrap();
        let Value::Map(m) = &n.value else {
            panic!("{n:?}")
        };
        assert_eq!((m[1].1.line, m[1].1.defined_line), (2, 1));
        assert_eq!((m[0].1.line, m[0].1.defined_line), (1, 1));
    }
}
