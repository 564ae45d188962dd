//! Reading JSON without committing to one representation: the validation rules are written
//! once against [`Json`], which the servers implement for `serde_json::Value` ([`value`]) and
//! the browser module for [`Doc`], a small borrowed reader of JSON text ([`doc`]) that keeps
//! `serde_json` and `core::fmt` out of the wasm module. [`write`] writes events back as JSON.

pub mod doc;
pub mod value;
pub mod write;

use std::borrow::Cow;

pub use doc::{Doc, Node, Shape};

/// One walk over the members of `object`: each name of `known` into its slot, in `known`'s
/// order (a repeated name: the last wins, as [`Json::get`] reads it), every other name handed
/// to `unknown` in document order. One pass instead of a `get` per name, each of which walks
/// the members again.
pub fn slots<'a, J: Json<'a>, const N: usize>(
    object: J,
    known: &[&str; N],
    unknown: &mut dyn FnMut(&str),
) -> [Option<J>; N] {
    let mut slots = [None; N];
    fill_slots(object, known, &mut slots, unknown);
    slots
}

/// [`slots`] for any number of names: one copy of the walk per JSON type in the wasm module.
fn fill_slots<'a, J: Json<'a>>(
    object: J,
    known: &[&str],
    slots: &mut [Option<J>],
    unknown: &mut dyn FnMut(&str),
) {
    object.each_member(|key, value| match known.iter().position(|k| *k == key) {
        Some(i) => {
            if let Some(slot) = slots.get_mut(i) {
                *slot = Some(value);
            }
        }
        None => unknown(&key),
    });
}

/// The largest integer a JS number holds exactly (2^53 - 1).
pub const MAX_SAFE_INTEGER: u64 = 9_007_199_254_740_991;

/// The JSON type of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool,
    /// A number.
    Number,
    /// A string.
    String,
    /// An array.
    Array,
    /// An object.
    Object,
}

/// Read access to one JSON value (a node of some document that lives for `'a`).
pub trait Json<'a>: Copy + 'a {
    /// The value's type.
    fn kind(self) -> Kind;
    /// The string, unescaped, if this is a string.
    fn as_str(self) -> Option<Cow<'a, str>>;
    /// The boolean, if this is one.
    fn as_bool(self) -> Option<bool>;
    /// The number, if this is a whole number from 0 to [`MAX_SAFE_INTEGER`] in any JSON
    /// spelling (`12`, `12.0`, `1.2e1`).
    fn as_whole(self) -> Option<u64>;
    /// The member `key` of an object (`null` members included).
    fn get(self, key: &str) -> Option<Self>;
    /// The members of an object, in document order; empty for other types.
    fn members(self) -> Vec<(Cow<'a, str>, Self)>;
    /// Calls `f` with each member of an object in document order (no call for other types):
    /// [`Json::members`] without building the list.
    fn each_member(self, mut f: impl FnMut(Cow<'a, str>, Self)) {
        for (key, value) in self.members() {
            f(key, value)
        }
    }
    /// The items of an array; empty for other types.
    fn items(self) -> Vec<Self>;
    /// The value as compact JSON text.
    fn text(self) -> Cow<'a, str>;

    /// Whether this is `null`.
    fn is_null(self) -> bool {
        self.kind() == Kind::Null
    }
}

/// A short, readable rendering of a JSON value for messages: strings quoted, long values cut.
pub fn describe<'a, J: Json<'a>>(value: J) -> String {
    match value.kind() {
        Kind::Null => "null".into(),
        Kind::Bool => crate::cat!["the boolean ", value.text()],
        Kind::Number => crate::cat!["the number ", value.text()],
        Kind::String => {
            let s = value.as_str().unwrap_or_default();
            let s = crate::cat!["the string ", crate::text::quote(&s)];
            if crate::text::char_count(&s) > 60 {
                crate::text::truncate(&s, 57)
            } else {
                s
            }
        }
        Kind::Array => "an array".into(),
        Kind::Object => "an object".into(),
    }
}

/// Nesting depth of a JSON value: scalars 0, an object or array one more than its deepest
/// child. Iterative, so a hostile value cannot overflow the stack.
pub fn depth<'a, J: Json<'a>>(value: J) -> usize {
    let mut max = 0;
    let mut stack = vec![(value, 0usize)];
    while let Some((v, d)) = stack.pop() {
        match v.kind() {
            Kind::Object => v.each_member(|_, c| stack.push((c, d + 1))),
            Kind::Array => stack.extend(v.items().into_iter().map(|c| (c, d + 1))),
            _ => continue,
        }
        max = max.max(d + 1);
    }
    max
}

/// The whole number a JSON number literal spells, if it is one from 0 to
/// [`MAX_SAFE_INTEGER`]: `12`, `12.0`, `1.2e1`, `-0`; not `1.5`, `-1`, `1e300`. Pure integer
/// arithmetic (no float parsing, which is large in a wasm module). `None` for text that is
/// not a JSON number.
pub fn whole_from_literal(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    // Digits only, as browsers write timestamps and counts: at most 16 of them cannot overflow.
    if !b.is_empty() && b.len() <= 16 && b.iter().all(u8::is_ascii_digit) {
        let n = b.iter().fold(0, |n, d| n * 10 + u64::from(d - b'0'));
        return (n <= MAX_SAFE_INTEGER).then_some(n);
    }
    let mut i = 0;
    let negative = b.first() == Some(&b'-');
    if negative {
        i += 1;
    }
    let mut digits: Vec<u8> = Vec::new();
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        digits.push(b[i] - b'0');
        i += 1;
    }
    if i == int_start {
        return None;
    }
    let mut exp: i64 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let frac_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            digits.push(b[i] - b'0');
            exp -= 1;
            i += 1;
        }
        if i == frac_start {
            return None;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        let sign: i64 = match b.get(i) {
            Some(b'-') => {
                i += 1;
                -1
            }
            Some(b'+') => {
                i += 1;
                1
            }
            _ => 1,
        };
        let exp_start = i;
        let mut e: i64 = 0;
        while i < b.len() && b[i].is_ascii_digit() {
            e = (e * 10 + i64::from(b[i] - b'0')).min(100_000);
            i += 1;
        }
        if i == exp_start {
            return None;
        }
        exp += sign * e;
    }
    if i != b.len() {
        return None;
    }
    while digits.last() == Some(&0) && digits.len() > 1 {
        digits.pop();
        exp += 1;
    }
    let mut value: u64 = 0;
    for d in &digits {
        value = value.checked_mul(10)?.checked_add(u64::from(*d))?;
        if value > MAX_SAFE_INTEGER {
            return None;
        }
    }
    if value == 0 {
        return Some(0);
    }
    if exp < 0 || negative {
        return None;
    }
    for _ in 0..exp {
        value = value.checked_mul(10).filter(|v| *v <= MAX_SAFE_INTEGER)?;
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_counts_arrays_and_objects_only() {
        for (text, want) in [
            ("7", 0),
            (r#""x""#, 0),
            ("{}", 1),
            ("[]", 1),
            (r#"{"a":1,"b":"x","c":null}"#, 1),
            ("[[]]", 2),
            (r#"{"a":[1,{"b":{}}],"c":2}"#, 4),
            (r#"[1,[2,[3]],{"x":[[{}]]}]"#, 5),
        ] {
            let value: serde_json::Value = serde_json::from_str(text).unwrap();
            assert_eq!(depth(&value), want, "{text}");
            assert_eq!(depth(Doc::parse(text).unwrap().root()), want, "{text}");
        }
    }

    #[test]
    fn whole_numbers_in_any_spelling() {
        for (text, want) in [
            ("0", Some(0)),
            ("-0", Some(0)),
            ("12", Some(12)),
            ("12.0", Some(12)),
            ("1.2e1", Some(12)),
            ("120e-1", Some(12)),
            ("0.0e5", Some(0)),
            ("9007199254740991", Some(MAX_SAFE_INTEGER)),
            ("9007199254740992", None),
            ("9999999999999999", None),
            ("18446744073709551616", None),
            ("1763712000000", Some(1_763_712_000_000)),
            ("1.5", None),
            ("-1", None),
            ("1e300", None),
            ("1e-300", None),
            ("12.", None),
            ("abc", None),
            ("", None),
        ] {
            assert_eq!(whole_from_literal(text), want, "{text}");
        }
    }
}
