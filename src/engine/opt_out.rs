//! Opting out: a persisted switch that stops capture and clears the queue.

use super::Engine;
use crate::keys::OPT_OUT_KEY;
use crate::storage::Storage;

impl Engine {
    /// Stops capture on this origin (every tab, persisted) and clears the queue. Cleared
    /// events are not counted as dropped: the visitor withdrew them.
    pub fn opt_out(&mut self) {
        let _ = self.storage.set(OPT_OUT_KEY, "1");
        self.opted_out = true;
        self.clear_queue();
    }

    /// Resumes capture.
    pub fn opt_in(&mut self) {
        let _ = self.storage.remove(OPT_OUT_KEY);
        self.opted_out = false;
    }

    /// Whether capture is off. Read from storage at start and before each delivery pass, so a
    /// tab notices another tab's opt-out by its next pass at the latest.
    pub fn is_opted_out(&self) -> bool {
        self.opted_out
    }

    pub(super) fn read_opt_out(&self) -> bool {
        matches!(self.storage.get(OPT_OUT_KEY), Ok(Some(v)) if v == "1")
    }

    /// Re-reads the switch; when another tab opted out, clears what this tab still queues.
    pub(super) fn refresh_opt_out(&mut self) {
        self.opted_out = self.read_opt_out();
        if self.opted_out {
            self.clear_queue();
        }
    }

    fn clear_queue(&mut self) {
        self.queue.resync();
        let ids: Vec<String> = self.queue.ids().map(str::to_string).collect();
        self.queue.remove(ids.iter().map(String::as_str));
    }
}
