//! In-memory wake-ups for long-polling workers. They only make things faster: a worker that
//! misses one still finds its runs on its next poll.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

#[derive(Default)]
pub struct Notifier {
    envs: Mutex<HashMap<String, Arc<Notify>>>,
    closing: AtomicBool,
}

impl Notifier {
    /// The signal of one environment.
    pub fn env(&self, env_id: &str) -> Arc<Notify> {
        let mut map = self.envs.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(env_id.to_string()).or_default().clone()
    }

    /// Wakes the workers of an environment: something may have become ready. (An
    /// environment no worker ever waited on has no signal, and gets none.)
    pub fn wake(&self, env_id: &str) {
        let map = self.envs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(signal) = map.get(env_id) {
            signal.notify_waiters();
        }
    }

    /// Drops the signal named `name` when no one holds it any more (a signal made for one run
    /// would otherwise stay until the server stops).
    pub fn release(&self, name: &str) {
        let mut map = self.envs.lock().unwrap_or_else(|p| p.into_inner());
        if map.get(name).is_some_and(|s| Arc::strong_count(s) == 1) {
            map.remove(name);
        }
    }

    pub fn wake_all(&self) {
        let map = self.envs.lock().unwrap_or_else(|p| p.into_inner());
        for n in map.values() {
            n.notify_waiters();
        }
    }

    /// The server is stopping: long-polls answer with what they have instead of waiting.
    pub fn close(&self) {
        self.closing.store(true, Ordering::SeqCst);
        self.wake_all();
    }

    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }
}
