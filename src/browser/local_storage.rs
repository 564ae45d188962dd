//! [`LocalStorage`]: the browser's `window.localStorage`. The only module that touches
//! `web_sys::Storage`.

use crate::storage::{Storage, StorageError};

/// `window.localStorage`. Every method maps a thrown exception (quota exceeded, security
/// error) to a [`StorageError`] carrying the exception's name and message.
pub struct LocalStorage(web_sys::Storage);

impl LocalStorage {
    /// The page's `localStorage`, or `None` when it is missing or access throws (storage
    /// blocked by the browser's settings, sandboxed iframes).
    pub fn open() -> Option<Self> {
        let window = web_sys::window()?;
        window.local_storage().ok().flatten().map(LocalStorage)
    }
}

fn error(e: wasm_bindgen::JsValue) -> StorageError {
    let get = |k: &str| {
        js_sys::Reflect::get(&e, &k.into())
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_default()
    };
    StorageError(agent_track_schema::cat![get("name"), ": ", get("message")])
}

impl Storage for LocalStorage {
    fn get(&self, key: &str) -> Result<Option<String>, StorageError> {
        self.0.get_item(key).map_err(error)
    }

    fn set(&self, key: &str, value: &str) -> Result<(), StorageError> {
        self.0.set_item(key, value).map_err(error)
    }

    fn remove(&self, key: &str) -> Result<(), StorageError> {
        self.0.remove_item(key).map_err(error)
    }

    fn keys(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let len = self.0.length().map_err(error)?;
        let mut keys = Vec::new();
        for i in 0..len {
            if let Some(k) = self.0.key(i).map_err(error)? {
                if k.starts_with(prefix) {
                    keys.push(k);
                }
            }
        }
        Ok(keys)
    }
}
