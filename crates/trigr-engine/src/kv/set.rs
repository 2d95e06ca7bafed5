//! Writing entries: one, many at once (all or nothing), or one only where absent.

use super::{KvEntry, KvSpace, NewEntry};
use crate::{Engine, Result};

impl Engine {
    /// Writes the entries (checked by [`super::check_entry`], keys distinct) in one
    /// transaction: all are written or, on a failure, none. Returns them as stored.
    pub async fn kv_set(
        &self,
        env_id: &str,
        space: KvSpace,
        entries: Vec<NewEntry>,
    ) -> Result<Vec<KvEntry>> {
        let env_id = env_id.to_string();
        self.write(move |tx| {
            let now = tx.now();
            let mut written = Vec::with_capacity(entries.len());
            for e in &entries {
                let stored = e.at(now);
                tx.kv_put(&env_id, space, &stored)?;
                written.push(stored);
            }
            Ok(written)
        })
        .await
    }

    /// Writes the entry only if no live entry holds its key: one conditional write, so of
    /// any number of concurrent callers (on any server of the database) exactly one gets
    /// `Some` (the entry as stored); the others get `None` and change nothing.
    pub async fn kv_set_if_absent(
        &self,
        env_id: &str,
        space: KvSpace,
        entry: NewEntry,
    ) -> Result<Option<KvEntry>> {
        let env_id = env_id.to_string();
        self.write(move |tx| {
            let now = tx.now();
            let stored = entry.at(now);
            let won = tx.kv_put_if_absent(&env_id, space, &stored, now)?;
            Ok(won.then_some(stored))
        })
        .await
    }
}
