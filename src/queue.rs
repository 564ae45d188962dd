//! [`Queue`]: the durable, ordered buffer of events waiting to be sent, one storage key per
//! event.
//!
//! Each event is stored under `agent-track:v1:q:{eventId}`. Event ids are UUIDv7 strings whose
//! hex sorts by time (see [`crate::id`]), so key order is queue order, and no shared counter
//! or index key exists that two tabs could race on. Enqueueing writes exactly one key (plus
//! one removal per event evicted at a cap) and updates an in-memory index, whatever the
//! queue's length. The index is rebuilt from storage by [`Queue::resync`], which picks up
//! what other tabs added or sent.

use crate::index::Index;
use crate::storage::{Storage, StorageError};

pub use crate::keys::QUEUE_PREFIX;

/// The caps of a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// At most this many events; default 1000.
    pub max_events: usize,
    /// At most this many bytes of stored JSON; default 2 MB.
    pub max_bytes: usize,
}

impl Default for Caps {
    fn default() -> Self {
        Caps {
            max_events: 1000,
            max_bytes: 2 * 1024 * 1024,
        }
    }
}

/// Why the queue let go of an event without sending it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eviction {
    /// The oldest event made room for a new one at `maxQueueEvents`.
    MaxEvents,
    /// The oldest event made room for a new one at `maxQueueBytes`.
    MaxBytes,
    /// The new event alone is larger than `maxQueueBytes`.
    LargerThanQueue,
}

/// One event the queue dropped, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evicted {
    /// The dropped event's id.
    pub event_id: String,
    /// Why.
    pub reason: Eviction,
}

/// The queue: an ordered index of `eventId -> stored bytes` over a [`Storage`].
pub struct Queue<S> {
    storage: S,
    caps: Caps,
    index: Index,
    bytes: usize,
    /// Events of the batch this page is sending: the caps neither evict nor count them, so an
    /// event is never both dropped at a cap and acknowledged as sent. The queue may hold one
    /// batch more than its caps meanwhile.
    in_flight: Vec<String>,
    /// How many of `in_flight` are queued, and their bytes (kept, not recomputed per push).
    flying: (usize, usize),
}

impl<S: Storage> Queue<S> {
    /// Opens the queue that `storage` holds (events left by earlier page loads and other tabs
    /// included).
    pub fn open(storage: S, caps: Caps) -> Self {
        let mut q = Queue {
            storage,
            caps,
            index: Index::default(),
            bytes: 0,
            in_flight: Vec::new(),
            flying: (0, 0),
        };
        q.resync();
        q
    }

    /// Rebuilds the index from storage: O(number of keys in storage). Entries that other tabs
    /// removed disappear; entries they added appear.
    pub fn resync(&mut self) {
        let keys = self.storage.keys(QUEUE_PREFIX).unwrap_or_default();
        let mut entries = Vec::with_capacity(keys.len());
        for key in keys {
            // `strip_prefix`, not slicing: no char-boundary panic path in the module.
            let Some(id) = key.strip_prefix(QUEUE_PREFIX).map(str::to_string) else {
                continue;
            };
            let size = match self.index.get(&id) {
                Some(size) => size,
                None => match self.storage.get(&key) {
                    Ok(Some(v)) => v.len(),
                    _ => continue,
                },
            };
            entries.push((id, size));
        }
        self.index = Index::from_unsorted(entries);
        self.bytes = self.index.total();
        self.recount_flying();
    }

    /// Stores one serialized event, first evicting the oldest events while a cap would be
    /// exceeded. Returns what was evicted (the new event itself, if it alone is larger than
    /// the byte cap). Fails only if the storage write fails; nothing is evicted then.
    pub fn push(&mut self, event_id: &str, json: &str) -> Result<Vec<Evicted>, StorageError> {
        if json.len() > self.caps.max_bytes {
            return Ok(vec![Evicted {
                event_id: event_id.to_string(),
                reason: Eviction::LargerThanQueue,
            }]);
        }
        self.storage.set(&key(event_id), json)?;
        let mut evicted = Vec::new();
        // The caps count the events that are not being sent.
        let (flying, flying_bytes) = self.flying;
        while self.index.len() - flying + 1 > self.caps.max_events
            || self.bytes - flying_bytes + json.len() > self.caps.max_bytes
        {
            let reason = if self.index.len() - flying + 1 > self.caps.max_events {
                Eviction::MaxEvents
            } else {
                Eviction::MaxBytes
            };
            let in_flight = &self.in_flight;
            let Some((oldest, size)) = self
                .index
                .pop_first_except(|id| in_flight.binary_search_by(|f| f.as_str().cmp(id)).is_ok())
            else {
                break;
            };
            let _ = self.storage.remove(&key(&oldest));
            self.bytes -= size;
            evicted.push(Evicted {
                event_id: oldest,
                reason,
            });
        }
        if let Some(old) = self.index.insert(event_id.to_string(), json.len()) {
            self.bytes -= old;
        }
        self.bytes += json.len();
        Ok(evicted)
    }

    /// Replaces the stored JSON of a queued event (e.g. to fill in the visitor id).
    pub fn replace(&mut self, event_id: &str, json: &str) -> Result<(), StorageError> {
        self.storage.set(&key(event_id), json)?;
        if self.index.get(event_id).is_some() {
            if let Some(old) = self.index.insert(event_id.to_string(), json.len()) {
                self.bytes = self.bytes - old + json.len();
            }
        }
        Ok(())
    }

    /// The oldest events' ids and stored JSON, in queue order, at most `max` of them. An entry
    /// that vanished from storage (sent by another tab) is skipped and forgotten.
    pub fn peek(&mut self, max: usize) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut gone = Vec::new();
        for id in self.index.keys() {
            if out.len() == max {
                break;
            }
            match self.storage.get(&key(id)) {
                Ok(Some(json)) => out.push((id.clone(), json)),
                _ => gone.push(id.clone()),
            }
        }
        for id in gone {
            self.forget(&id);
        }
        out
    }

    /// The stored JSON of those `ids` that are still queued, in the order given; like
    /// [`Queue::peek`], an entry that vanished from storage is forgotten.
    pub fn read(&mut self, ids: &[String]) -> Vec<(String, String)> {
        let queued: Vec<&String> = ids
            .iter()
            .filter(|id| self.index.get(id).is_some())
            .collect();
        let mut out = Vec::with_capacity(queued.len());
        let mut gone = Vec::new();
        for id in queued {
            match self.storage.get(&key(id)) {
                Ok(Some(json)) => out.push((id.clone(), json)),
                _ => gone.push(id.clone()),
            }
        }
        for id in gone {
            self.forget(&id);
        }
        out
    }

    /// Marks the events of the batch being sent (replacing the previous mark): caps do not
    /// evict them until [`Queue::clear_in_flight`].
    /// `ids` are in queue order (batches are cut from the front of the queue), which is also
    /// the order the lookups below rely on.
    pub fn set_in_flight(&mut self, ids: &[String]) {
        debug_assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "batch ids in queue order"
        );
        self.in_flight = ids.to_vec();
        self.recount_flying();
    }

    fn recount_flying(&mut self) {
        let sizes = self.in_flight.iter().filter_map(|id| self.index.get(id));
        self.flying = sizes.fold((0, 0), |(n, b), size| (n + 1, b + size));
    }

    /// The batch was answered (or abandoned).
    pub fn clear_in_flight(&mut self) {
        self.in_flight.clear();
        self.flying = (0, 0);
    }

    /// Every queued event id, in queue order.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.index.keys().map(String::as_str)
    }

    /// Removes events (sent, rejected or dropped). Unknown ids are ignored.
    pub fn remove<'a>(&mut self, ids: impl IntoIterator<Item = &'a str>) {
        for id in ids {
            let _ = self.storage.remove(&key(id));
            self.forget(id);
        }
    }

    fn forget(&mut self, id: &str) {
        if let Some(size) = self.index.remove(id) {
            self.bytes -= size;
            if self
                .in_flight
                .binary_search_by(|f| f.as_str().cmp(id))
                .is_ok()
            {
                self.flying = (self.flying.0 - 1, self.flying.1 - size);
            }
        }
    }

    /// How many events are queued.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Bytes of stored JSON queued.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The caps in force.
    pub fn caps(&self) -> Caps {
        self.caps
    }

    /// Changes the caps; takes effect at the next push.
    pub fn set_caps(&mut self, caps: Caps) {
        self.caps = caps;
    }
}

/// The storage key of a queued event.
pub fn key(event_id: &str) -> String {
    let mut k = String::with_capacity(QUEUE_PREFIX.len() + event_id.len());
    k.push_str(QUEUE_PREFIX);
    k.push_str(event_id);
    k
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryStorage;

    fn queue(caps: Caps) -> (Queue<MemoryStorage>, MemoryStorage) {
        let s = MemoryStorage::new();
        (Queue::open(s.clone(), caps), s)
    }

    #[test]
    fn one_key_per_event_and_fifo_order() {
        let (mut q, s) = queue(Caps::default());
        for id in ["01-b", "00-a", "02-c"] {
            assert!(q
                .push(id, &format!("{{\"id\":\"{id}\"}}"))
                .unwrap()
                .is_empty());
        }
        assert_eq!(s.keys(QUEUE_PREFIX).unwrap().len(), 3);
        let ids: Vec<_> = q.peek(2).into_iter().map(|(id, _)| id).collect();
        assert_eq!(ids, ["00-a", "01-b"]);
        assert_eq!(q.bytes(), 3 * 13);
    }

    #[test]
    fn enqueue_writes_one_key_whatever_the_length() {
        let (mut q, s) = queue(Caps {
            max_events: 5000,
            max_bytes: usize::MAX,
        });
        for i in 0..1000 {
            q.push(&format!("{i:05}"), "{}").unwrap();
        }
        let before = s.writes();
        q.push("99999", "{}").unwrap();
        assert_eq!(s.writes() - before, 1);
    }

    #[test]
    fn the_event_cap_evicts_the_oldest() {
        let (mut q, s) = queue(Caps {
            max_events: 3,
            max_bytes: usize::MAX,
        });
        for id in ["a", "b", "c"] {
            q.push(id, "{}").unwrap();
        }
        let evicted = q.push("d", "{}").unwrap();
        assert_eq!(
            evicted,
            [Evicted {
                event_id: "a".into(),
                reason: Eviction::MaxEvents
            }]
        );
        assert_eq!(q.ids().collect::<Vec<_>>(), ["b", "c", "d"]);
        assert_eq!(s.get(&key("a")).unwrap(), None);
    }

    #[test]
    fn the_byte_cap_evicts_as_many_as_needed() {
        let (mut q, _) = queue(Caps {
            max_events: 100,
            max_bytes: 10,
        });
        q.push("a", "1234").unwrap();
        q.push("b", "1234").unwrap();
        let evicted = q.push("c", "12345678").unwrap();
        assert_eq!(
            evicted
                .iter()
                .map(|e| e.event_id.as_str())
                .collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert!(evicted.iter().all(|e| e.reason == Eviction::MaxBytes));
        assert_eq!((q.len(), q.bytes()), (1, 8));
    }

    #[test]
    fn events_being_sent_are_not_evicted() {
        let (mut q, _) = queue(Caps {
            max_events: 2,
            max_bytes: usize::MAX,
        });
        q.push("a", "{}").unwrap();
        q.push("b", "{}").unwrap();
        q.set_in_flight(&["a".to_string(), "b".to_string()]);
        // Two in flight: the cap of two applies to the others.
        assert!(q.push("c", "{}").unwrap().is_empty());
        assert!(q.push("d", "{}").unwrap().is_empty());
        let evicted = q.push("e", "{}").unwrap();
        assert_eq!(
            evicted
                .iter()
                .map(|e| e.event_id.as_str())
                .collect::<Vec<_>>(),
            ["c"],
            "the oldest not in flight"
        );
        assert_eq!(q.len(), 4);
        q.clear_in_flight();
        let evicted = q.push("f", "{}").unwrap();
        assert_eq!(
            evicted
                .iter()
                .map(|e| e.event_id.as_str())
                .collect::<Vec<_>>(),
            ["a", "b", "d"]
        );
    }

    #[test]
    fn an_event_larger_than_the_queue_is_refused_alone() {
        let (mut q, _) = queue(Caps {
            max_events: 100,
            max_bytes: 4,
        });
        q.push("a", "12").unwrap();
        let evicted = q.push("b", "12345").unwrap();
        assert_eq!(
            evicted,
            [Evicted {
                event_id: "b".into(),
                reason: Eviction::LargerThanQueue
            }]
        );
        assert_eq!(q.ids().collect::<Vec<_>>(), ["a"]);
    }

    #[test]
    fn a_failed_write_evicts_nothing() {
        let s = MemoryStorage::with_quota(40);
        let mut q = Queue::open(
            s,
            Caps {
                max_events: 1,
                max_bytes: 1000,
            },
        );
        q.push("a", "x").unwrap();
        assert!(q.push("b", &"y".repeat(100)).is_err());
        assert_eq!(q.ids().collect::<Vec<_>>(), ["a"]);
    }

    #[test]
    fn reopening_sees_what_was_stored() {
        let (mut q, s) = queue(Caps::default());
        q.push("a", "{\"x\":1}").unwrap();
        q.push("b", "{}").unwrap();
        drop(q);
        let mut q2 = Queue::open(s, Caps::default());
        assert_eq!((q2.len(), q2.bytes()), (2, 9));
        assert_eq!(q2.peek(10)[0], ("a".to_string(), "{\"x\":1}".to_string()));
    }

    #[test]
    fn resync_sees_other_tabs() {
        let (mut tab1, s) = queue(Caps::default());
        let mut tab2 = Queue::open(s.clone(), Caps::default());
        tab1.push("a", "{}").unwrap();
        tab2.push("b", "{}").unwrap();
        tab1.resync();
        assert_eq!(tab1.ids().collect::<Vec<_>>(), ["a", "b"]);
        tab2.remove(["a"]);
        // Without resync, peek notices the vanished entry and forgets it.
        assert_eq!(tab1.peek(10).len(), 1);
        assert_eq!(tab1.len(), 1);
    }

    #[test]
    fn read_returns_only_the_queued_ids_asked_for() {
        let (mut q, s) = queue(Caps::default());
        for id in ["a", "b", "c"] {
            q.push(id, &format!("\"{id}\"")).unwrap();
        }
        s.remove(&key("b")).unwrap(); // sent by another tab
        let got = q.read(&["a".into(), "b".into(), "x".into(), "c".into()]);
        assert_eq!(
            got,
            [
                ("a".to_string(), "\"a\"".to_string()),
                ("c".to_string(), "\"c\"".to_string())
            ]
        );
        assert_eq!(q.len(), 2, "the vanished entry is forgotten");
    }

    #[test]
    fn replace_keeps_byte_count_right() {
        let (mut q, s) = queue(Caps::default());
        q.push("a", "{}").unwrap();
        q.replace("a", "{\"v\":1}").unwrap();
        assert_eq!(q.bytes(), 7);
        assert_eq!(s.get(&key("a")).unwrap().as_deref(), Some("{\"v\":1}"));
    }
}
