//! [`Json`] for `serde_json::Value`: what the servers validate.

use std::borrow::Cow;

use serde_json::Value;

use super::{whole_from_literal, Json, Kind, MAX_SAFE_INTEGER};

impl<'a> Json<'a> for &'a Value {
    fn kind(self) -> Kind {
        match self {
            Value::Null => Kind::Null,
            Value::Bool(_) => Kind::Bool,
            Value::Number(_) => Kind::Number,
            Value::String(_) => Kind::String,
            Value::Array(_) => Kind::Array,
            Value::Object(_) => Kind::Object,
        }
    }

    fn as_str(self) -> Option<Cow<'a, str>> {
        Value::as_str(self).map(Cow::Borrowed)
    }

    fn as_bool(self) -> Option<bool> {
        Value::as_bool(self)
    }

    fn as_whole(self) -> Option<u64> {
        if let Some(n) = self.as_u64() {
            return (n <= MAX_SAFE_INTEGER).then_some(n);
        }
        match self {
            Value::Number(n) => whole_from_literal(&n.to_string()),
            _ => None,
        }
    }

    fn get(self, key: &str) -> Option<Self> {
        self.as_object()?.get(key)
    }

    fn members(self) -> Vec<(Cow<'a, str>, Self)> {
        match self {
            Value::Object(m) => m
                .iter()
                .map(|(k, v)| (Cow::Borrowed(k.as_str()), v))
                .collect(),
            _ => Vec::new(),
        }
    }

    fn items(self) -> Vec<Self> {
        match self {
            Value::Array(a) => a.iter().collect(),
            _ => Vec::new(),
        }
    }

    fn text(self) -> Cow<'a, str> {
        Cow::Owned(self.to_string())
    }
}
