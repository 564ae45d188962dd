//! [`MemoryStorage`]: a `Storage` in a map, shared by clones.

use std::cell::RefCell;
use std::rc::Rc;

use super::{Storage, StorageError};

/// An in-memory [`Storage`]. Clones share the same map, so two trackers built on clones of
/// one `MemoryStorage` behave like two tabs on one `localStorage`. An optional byte quota
/// (keys plus values, like browsers count) makes `set` fail like a full `localStorage`.
#[derive(Debug, Clone, Default)]
pub struct MemoryStorage {
    inner: Rc<RefCell<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Sorted by key. Not a `BTreeMap`: this type ships in the wasm module as the memory
    /// fallback, and a sorted Vec is much less code.
    map: Vec<(String, String)>,
    quota: Option<usize>,
    writes: u64,
}

impl MemoryStorage {
    /// An empty storage without quota.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty storage whose `set` fails once keys plus values would exceed `bytes`.
    pub fn with_quota(bytes: usize) -> Self {
        let s = Self::default();
        s.inner.borrow_mut().quota = Some(bytes);
        s
    }

    /// How many `set` calls succeeded so far (to check how much an operation writes).
    pub fn writes(&self) -> u64 {
        self.inner.borrow().writes
    }

    /// How many keys are stored.
    pub fn len(&self) -> usize {
        self.inner.borrow().map.len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Inner {
    fn find(&self, key: &str) -> Result<usize, usize> {
        self.map.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }
}

impl Storage for MemoryStorage {
    fn get(&self, key: &str) -> Result<Option<String>, StorageError> {
        let inner = self.inner.borrow();
        Ok(inner.find(key).ok().map(|i| inner.map[i].1.clone()))
    }

    fn set(&self, key: &str, value: &str) -> Result<(), StorageError> {
        let mut inner = self.inner.borrow_mut();
        if let Some(quota) = inner.quota {
            let used: usize = inner
                .map
                .iter()
                .filter(|(k, _)| k.as_str() != key)
                .map(|(k, v)| k.len() + v.len())
                .sum();
            if used + key.len() + value.len() > quota {
                return Err(StorageError(agent_track_schema::cat![
                    "QuotaExceededError: the quota of ",
                    agent_track_schema::text::num(quota as u64),
                    " bytes is used up"
                ]));
            }
        }
        match inner.find(key) {
            Ok(i) => inner.map[i].1 = value.to_string(),
            Err(i) => inner.map.insert(i, (key.to_string(), value.to_string())),
        }
        inner.writes += 1;
        Ok(())
    }

    fn remove(&self, key: &str) -> Result<(), StorageError> {
        let mut inner = self.inner.borrow_mut();
        if let Ok(i) = inner.find(key) {
            inner.map.remove(i);
        }
        Ok(())
    }

    fn keys(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let inner = self.inner.borrow();
        let start = inner.find(prefix).unwrap_or_else(|i| i);
        Ok(inner.map[start..]
            .iter()
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, _)| k.clone())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_one_map() {
        let a = MemoryStorage::new();
        let b = a.clone();
        a.set("p:1", "x").unwrap();
        assert_eq!(b.get("p:1").unwrap().as_deref(), Some("x"));
        b.remove("p:1").unwrap();
        assert!(a.is_empty());
    }

    #[test]
    fn keys_filter_by_prefix() {
        let s = MemoryStorage::new();
        for k in ["a:1", "b:1", "a:2", "a"] {
            s.set(k, "").unwrap();
        }
        assert_eq!(s.keys("a:").unwrap(), ["a:1", "a:2"]);
    }

    #[test]
    fn quota_counts_keys_and_values() {
        let s = MemoryStorage::with_quota(10);
        s.set("k", "123456789").unwrap();
        assert!(s.set("k2", "x").is_err());
        s.set("k", "12345678").unwrap(); // replacing frees the old value first
    }
}
