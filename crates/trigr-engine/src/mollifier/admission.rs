//! Admission: while an environment's triggers are being buffered, the server works on at most
//! a few of its trigger requests at once.
//!
//! Buffering makes a burst's triggers cheap to store, but each one is still a request to read,
//! check and answer, and a burst of them from many clients fills the server's CPU: every other
//! environment's requests then queue behind it. So a tripped environment's trigger requests
//! pass one [`Admission`] slot each, `limit` slots per environment; the others wait their
//! turn in arrival order, before their body is read, costing nothing while they wait. An
//! environment that is not tripped never meets a slot, and with the mollifier off nothing is
//! looked at. The burst keeps a steady share of the server instead of all of it — while there
//! is someone to share it with: the slots apply only while another environment has sent a
//! trigger within the last [`OTHERS_ACTIVE_MS`]; a burst alone on the server keeps all of it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long after another environment's trigger a tripped environment's requests take slots.
pub const OTHERS_ACTIVE_MS: i64 = 1_000;

/// Environments whose slots are remembered before idle ones are forgotten.
const REMEMBERED: usize = 1024;

/// The admission slots of tripped environments.
pub struct Admission {
    limit: usize,
    slots: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// A request's slot, given back when dropped.
pub struct Admitted {
    _permit: OwnedSemaphorePermit,
}

impl Admission {
    /// Slots of `limit` requests per environment (at least 1).
    pub fn new(limit: usize) -> Admission {
        Admission {
            limit: limit.max(1),
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// Waits for one of `env_id`'s slots; `waited` is told whether none was free at once.
    pub async fn enter(&self, env_id: &str, waited: impl FnOnce()) -> Admitted {
        let slots = self.slots_of(env_id);
        let permit = match slots.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                waited();
                slots
                    .acquire_owned()
                    .await
                    .expect("admission slots are never closed")
            }
        };
        Admitted { _permit: permit }
    }

    /// Requests of `env_id` being worked on now.
    pub fn in_use(&self, env_id: &str) -> usize {
        let slots = self.lock();
        slots
            .get(env_id)
            .map_or(0, |s| self.limit - s.available_permits())
    }

    fn slots_of(&self, env_id: &str) -> Arc<Semaphore> {
        let mut slots = self.lock();
        if let Some(s) = slots.get(env_id) {
            return s.clone();
        }
        if slots.len() >= REMEMBERED {
            let limit = self.limit;
            slots.retain(|_, s| s.available_permits() < limit);
        }
        let s = Arc::new(Semaphore::new(self.limit));
        slots.insert(env_id.to_string(), s.clone());
        s
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Semaphore>>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn an_environment_gets_its_limit_and_the_rest_wait_in_order() {
        let admission = Arc::new(Admission::new(2));
        let waits = AtomicUsize::new(0);
        let count = || {
            waits.fetch_add(1, Ordering::Relaxed);
        };
        let a1 = admission.enter("env_a", count).await;
        let a2 = admission.enter("env_a", count).await;
        assert_eq!(admission.in_use("env_a"), 2);
        assert_eq!(waits.load(Ordering::Relaxed), 0);
        // Another environment is not held up by env_a's slots.
        let b = tokio::time::timeout(Duration::from_secs(1), admission.enter("env_b", || {}))
            .await
            .expect("env_b is admitted at once");

        let (order_tx, mut order_rx) = tokio::sync::mpsc::unbounded_channel();
        let mut waiting = Vec::new();
        for n in 0..3 {
            let (admission, order_tx) = (admission.clone(), order_tx.clone());
            waiting.push(tokio::spawn(async move {
                let slot = admission.enter("env_a", || {}).await;
                order_tx.send(n).expect("the test listens");
                tokio::time::sleep(Duration::from_millis(5)).await;
                drop(slot);
            }));
            // Each queues before the next one is spawned.
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(
            order_rx.try_recv().is_err(),
            "none admitted while both slots are held"
        );
        drop((a1, a2, b));
        for w in waiting {
            w.await.expect("admitted");
        }
        let order: Vec<i32> = std::iter::from_fn(|| order_rx.try_recv().ok()).collect();
        assert_eq!(order, vec![0, 1, 2], "admitted in arrival order");
        assert_eq!(admission.in_use("env_a"), 0);
    }

    #[tokio::test]
    async fn a_wait_is_reported_once_per_request_that_found_no_slot() {
        let admission = Arc::new(Admission::new(1));
        let waits = Arc::new(AtomicUsize::new(0));
        let held = admission.enter("env", || {}).await;
        let queued = {
            let (admission, waits) = (admission.clone(), waits.clone());
            tokio::spawn(async move {
                admission
                    .enter("env", move || {
                        waits.fetch_add(1, Ordering::Relaxed);
                    })
                    .await;
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(waits.load(Ordering::Relaxed), 1);
        drop(held);
        queued.await.expect("admitted once the slot is free");
    }

    #[tokio::test]
    async fn idle_environments_are_forgotten_once_many_were_seen() {
        let admission = Admission::new(1);
        for n in 0..REMEMBERED + 10 {
            drop(admission.enter(&format!("env_{n}"), || {}).await);
        }
        assert!(admission.lock().len() <= REMEMBERED);
    }
}
