//! [`Index`]: the queue's ordered `eventId -> stored bytes` map, as a sorted `Vec`.
//!
//! Not a `BTreeMap`, nor a `VecDeque`: ids arrive in increasing order (UUIDv7), so appending
//! (O(1)) and taking from the front are the common operations, and taking from the front of
//! a `Vec` moves the rest, at most the queue's event cap (1,000 by default) of 16-byte entries
//! on wasm32, about a microsecond. Both others bring far more code into the wasm module.

/// Entries sorted by key, unique keys.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Index {
    entries: Vec<(String, usize)>,
}

impl Index {
    /// An index of `entries` (any order; a repeated key keeps its last value).
    pub fn from_unsorted(entries: Vec<(String, usize)>) -> Index {
        // Sorted by (key, position) with a small heapsort: the standard library's sorts are
        // several kilobytes of wasm each. The position makes the last of repeated keys win.
        let mut e: Vec<(String, usize, usize)> = entries
            .into_iter()
            .enumerate()
            .map(|(i, (k, v))| (k, i, v))
            .collect();
        let less =
            |a: &(String, usize, usize), b: &(String, usize, usize)| (&a.0, a.1) < (&b.0, b.1);
        let sift = |e: &mut [(String, usize, usize)], mut root: usize, end: usize| loop {
            let mut child = 2 * root + 1;
            if child >= end {
                break;
            }
            if child + 1 < end && less(&e[child], &e[child + 1]) {
                child += 1;
            }
            if !less(&e[root], &e[child]) {
                break;
            }
            e.swap(root, child);
            root = child;
        };
        let n = e.len();
        for root in (0..n / 2).rev() {
            sift(&mut e, root, n);
        }
        for end in (1..n).rev() {
            e.swap(0, end);
            sift(&mut e, 0, end);
        }
        let mut sorted: Vec<(String, usize)> = Vec::with_capacity(n);
        for (key, _, value) in e {
            match sorted.last_mut() {
                Some(last) if last.0 == key => last.1 = value,
                _ => sorted.push((key, value)),
            }
        }
        Index { entries: sorted }
    }

    fn find(&self, key: &str) -> Result<usize, usize> {
        // The common case: the newest id goes at the end.
        match self.entries.last() {
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
        Some(self.entries.remove(i).1)
    }

    /// Removes and returns the smallest key.
    pub fn pop_first(&mut self) -> Option<(String, usize)> {
        (!self.entries.is_empty()).then(|| self.entries.remove(0))
    }

    /// Removes and returns the smallest key for which `keep` is false.
    pub fn pop_first_except(&mut self, keep: impl Fn(&str) -> bool) -> Option<(String, usize)> {
        let i = self.entries.iter().position(|(k, _)| !keep(k))?;
        Some(self.entries.remove(i))
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
    fn builds_sorted_from_any_order() {
        let keys: Vec<(String, usize)> = (0..200)
            .map(|i| (format!("{:03}", (i * 37) % 200), i))
            .collect();
        let index = Index::from_unsorted(keys);
        let got: Vec<&String> = index.keys().collect();
        let mut want: Vec<String> = (0..200).map(|i| format!("{i:03}")).collect();
        want.sort();
        assert_eq!(got, want.iter().collect::<Vec<_>>());
        assert_eq!(Index::from_unsorted(Vec::new()).len(), 0);
    }

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
