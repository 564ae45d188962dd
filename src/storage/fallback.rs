//! [`FallbackStorage`]: `localStorage` while it works, memory when it throws.

use std::cell::Cell;

use super::{MemoryStorage, Storage, StorageError};

/// Writes to the primary storage; when a write fails (quota exceeded, storage blocked) or the
/// primary is missing, keeps the value in memory instead, so no caller ever sees a storage
/// error. Every write tries the primary first, so durability comes back as soon as the
/// primary has room again. Reads and removals see both.
///
/// The first failure is reported once through [`FallbackStorage::take_warning`].
pub struct FallbackStorage<P> {
    primary: Option<P>,
    memory: MemoryStorage,
    warning: Cell<Option<String>>,
    warned: Cell<bool>,
}

impl<P: Storage> FallbackStorage<P> {
    /// Wraps `primary`; `None` means the primary is missing (e.g. `localStorage` blocked),
    /// which is reported as a warning at once.
    pub fn new(primary: Option<P>) -> Self {
        let s = FallbackStorage {
            primary,
            memory: MemoryStorage::new(),
            warning: Cell::new(None),
            warned: Cell::new(false),
        };
        if s.primary.is_none() {
            s.degrade("localStorage is not available");
        }
        s
    }

    /// The warning to show, the first time the primary failed; `None` afterwards and while
    /// the primary works.
    pub fn take_warning(&self) -> Option<String> {
        self.warning.take()
    }

    fn degrade(&self, why: &str) {
        if !self.warned.replace(true) {
            self.warning.set(Some(agent_track_schema::cat![
                "agent-track: ",
                why,
                "; events are kept in memory until storage works again and are lost if the page closes first"
            ]));
        }
    }
}

impl<P: Storage> Storage for FallbackStorage<P> {
    fn get(&self, key: &str) -> Result<Option<String>, StorageError> {
        if let Some(v) = self.memory.get(key)? {
            return Ok(Some(v));
        }
        match &self.primary {
            Some(p) => Ok(p.get(key).unwrap_or(None)),
            None => Ok(None),
        }
    }

    fn set(&self, key: &str, value: &str) -> Result<(), StorageError> {
        if let Some(p) = &self.primary {
            match p.set(key, value) {
                Ok(()) => {
                    // A stale in-memory copy would shadow the durable one.
                    self.memory.remove(key)?;
                    return Ok(());
                }
                Err(e) => self.degrade(&agent_track_schema::cat![
                    "localStorage refused a write (",
                    e.0,
                    ")"
                ]),
            }
        }
        self.memory.set(key, value)
    }

    fn remove(&self, key: &str) -> Result<(), StorageError> {
        self.memory.remove(key)?;
        if let Some(p) = &self.primary {
            // Nothing to do if removal fails: the entry stays and is sent again, and
            // receivers dedupe on eventId.
            let _ = p.remove(key);
        }
        Ok(())
    }

    fn keys(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let mut keys = match &self.primary {
            Some(p) => p.keys(prefix).unwrap_or_default(),
            None => Vec::new(),
        };
        for k in self.memory.keys(prefix)? {
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn works_through_while_the_primary_has_room() {
        let primary = MemoryStorage::new();
        let s = FallbackStorage::new(Some(primary.clone()));
        s.set("k", "v").unwrap();
        assert_eq!(primary.get("k").unwrap().as_deref(), Some("v"));
        assert_eq!(s.take_warning(), None);
    }

    #[test]
    fn a_full_primary_falls_back_with_one_warning() {
        let primary = MemoryStorage::with_quota(8);
        let s = FallbackStorage::new(Some(primary.clone()));
        s.set("a", "1234567").unwrap();
        s.set("b", "12345").unwrap(); // does not fit
        s.set("c", "12345").unwrap();
        assert_eq!(primary.len(), 1);
        let w = s.take_warning().expect("one warning");
        assert!(w.contains("kept in memory"), "{w}");
        assert_eq!(s.take_warning(), None, "only once");
        let mut keys = s.keys("").unwrap();
        keys.sort();
        assert_eq!(keys, ["a", "b", "c"]);
        assert_eq!(s.get("b").unwrap().as_deref(), Some("12345"));
    }

    #[test]
    fn durability_returns_when_the_primary_has_room_again() {
        let primary = MemoryStorage::with_quota(8);
        let s = FallbackStorage::new(Some(primary.clone()));
        s.set("a", "1234567").unwrap();
        s.set("b", "1").unwrap(); // memory
        s.remove("a").unwrap();
        s.set("b", "2").unwrap(); // primary again
        assert_eq!(primary.get("b").unwrap().as_deref(), Some("2"));
        assert_eq!(s.get("b").unwrap().as_deref(), Some("2"));
        assert_eq!(s.keys("").unwrap(), ["b"]);
    }

    #[test]
    fn a_missing_primary_warns_at_once_and_keeps_working() {
        let s: FallbackStorage<MemoryStorage> = FallbackStorage::new(None);
        assert!(s.take_warning().unwrap().contains("not available"));
        s.set("k", "v").unwrap();
        assert_eq!(s.get("k").unwrap().as_deref(), Some("v"));
    }
}
