//! [`Index`]: the queue's ordered `eventId -> stored bytes` map, as a sorted deque.
//!
//! Not a `BTreeMap`: ids arrive in increasing order (UUIDv7), so appending and taking from
//! the front are the common operations, and a sorted `VecDeque` does them in O(1) with far
//! less code in the wasm module than another `BTreeMap` instantiation.

use std::collections::VecDeque;

/// Entries sorted by key, unique keys.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Index {
    entries: VecDeque<(String, usize)>,
}

impl Index {
    /// An index of `entries` (any order; a repeated key keeps its last value).
    pub fn from_unsorted(mut entries: Vec<(String, usize)>) -> Index {
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries.dedup_by(|later, earlier| {
            if later.0 == earlier.0 {
                earlier.1 = later.1;
                true
            } else {
                false
            }
        });
        Index {
            entries: entries.into(),
        }
    }

    fn find(&self, key: &str) -> Result<usize, usize> {
        // The common case: the newest id goes at the end.
        match self.entries.back() {
            Some((last, _)) if last.as_str() < key => Err(self.entries.len()),
            _ => self.entries.binary_search_by(|(k, _)| k.as_str().cmp(key)),
        }
    }

    /// The value at `key`.
    pub fn get(&self, key: &str) -> Option<usize> {
        self.find(key).ok().map(|i| self.entries[i].1)
    }

    /// Sets `key` to `value`; returns the value it replaced.
    pub fn insert(&mut self, key: String, value: usize) -> Option<usize> {
        match self.find(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            Err(i) => {
                self.entries.insert(i, (key, value));
                None
            }
        }
    }

    /// Removes `key`; returns its value.
    pub fn remove(&mut self, key: &str) -> Option<usize> {
        let i = self.find(key).ok()?;
        self.entries.remove(i).map(|(_, v)| v)
    }

    /// Removes and returns the smallest key.
    pub fn pop_first(&mut self) -> Option<(String, usize)> {
        self.entries.pop_front()
    }

    /// Removes and returns the smallest key for which `keep` is false.
    pub fn pop_first_except(&mut self, keep: impl Fn(&str) -> bool) -> Option<(String, usize)> {
        let i = self.entries.iter().position(|(k, _)| !keep(k))?;
        self.entries.remove(i)
    }

    /// Keys in order.
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.entries.iter().map(|(k, _)| k)
    }

    /// The sum of the values.
    pub fn total(&self) -> usize {
        self.entries.iter().map(|(_, v)| v).sum()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_like_an_ordered_map() {
        let mut i = Index::from_unsorted(vec![("b".into(), 2), ("a".into(), 1), ("b".into(), 3)]);
        assert_eq!(i.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(i.get("b"), Some(3));
        assert_eq!(i.insert("d".into(), 4), None);
        assert_eq!(
            i.insert("c".into(), 5),
            None,
            "out of order goes in its place"
        );
        assert_eq!(i.insert("c".into(), 6), Some(5));
        assert_eq!(i.keys().collect::<Vec<_>>(), ["a", "b", "c", "d"]);
        assert_eq!(i.total(), 1 + 3 + 6 + 4);
        assert_eq!(i.remove("b"), Some(3));
        assert_eq!(i.remove("zz"), None);
        assert_eq!(i.pop_first_except(|k| k == "a"), Some(("c".into(), 6)));
        assert_eq!(i.pop_first(), Some(("a".into(), 1)));
        assert_eq!(i.len(), 1);
    }
}
