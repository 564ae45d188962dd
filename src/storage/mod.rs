//! Where the queue keeps its events: a small key-value trait with an in-memory version for
//! host tests and apps' own tests, `localStorage` in the browser, and a wrapper that falls
//! back to memory when `localStorage` throws.

mod fallback;
mod memory;

pub use fallback::FallbackStorage;
pub use memory::MemoryStorage;

/// A storage operation failed: quota exceeded, storage blocked by the browser's settings,
/// or storage missing. The message is the browser's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageError(pub String);

impl std::fmt::Display for StorageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A string key-value store shaped like `window.localStorage`. Several tabs may share one;
/// the queue relies only on single-key operations being atomic.
pub trait Storage {
    /// The value at `key`, if any.
    fn get(&self, key: &str) -> Result<Option<String>, StorageError>;
    /// Stores `value` at `key`, replacing what was there.
    fn set(&self, key: &str, value: &str) -> Result<(), StorageError>;
    /// Removes `key`; removing a missing key is not an error.
    fn remove(&self, key: &str) -> Result<(), StorageError>;
    /// Every key that starts with `prefix`, in no particular order.
    fn keys(&self, prefix: &str) -> Result<Vec<String>, StorageError>;
}

macro_rules! forward_storage {
    ($ptr:ident) => {
        impl<S: Storage + ?Sized> Storage for $ptr<S> {
            fn get(&self, key: &str) -> Result<Option<String>, StorageError> {
                (**self).get(key)
            }
            fn set(&self, key: &str, value: &str) -> Result<(), StorageError> {
                (**self).set(key, value)
            }
            fn remove(&self, key: &str) -> Result<(), StorageError> {
                (**self).remove(key)
            }
            fn keys(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
                (**self).keys(prefix)
            }
        }
    };
}

use std::rc::Rc;
forward_storage!(Rc);
forward_storage!(Box);
