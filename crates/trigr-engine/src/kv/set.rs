//! Writing entries: one, many at once (all or nothing), or one only where absent.

use super::{KvEntry, KvSpace, NewEntry};
use crate::{Engine, Result};

impl Engine {
    /// Writes the entries (checked by [`super::check_entry`], keys distinct) in one
    /// transaction: all are written or, on a failure, none. Returns them as stored, in the
    /// caller's order.
    ///
    /// Rows are written in key order, so concurrent calls naming the same keys in any order
    /// take their row locks in one order and never deadlock each other on PostgreSQL.
    pub async fn kv_set(
        &self,
        env_id: &str,
        space: KvSpace,
        entries: Vec<NewEntry>,
    ) -> Result<Vec<KvEntry>> {
        let env_id = env_id.to_string();
        self.write(move |tx| {
            let now = tx.now();
            let written: Vec<KvEntry> = entries.iter().map(|e| e.at(now)).collect();
            let mut by_key: Vec<&KvEntry> = written.iter().collect();
            by_key.sort_unstable_by(|a, b| a.key.cmp(&b.key));
            for stored in by_key {
                tx.kv_put(&env_id, space, stored)?;
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
