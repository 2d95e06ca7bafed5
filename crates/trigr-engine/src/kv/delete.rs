//! Deleting entries.

use super::KvSpace;
use crate::{Engine, Result};

impl Engine {
    /// Deletes the entries of `space` with these keys (checked by [`super::check_keys`]) in
    /// one transaction; returns how many were alive.
    pub async fn kv_delete(&self, env_id: &str, space: KvSpace, keys: Vec<String>) -> Result<u64> {
        let env_id = env_id.to_string();
        self.write(move |tx| {
            let now = tx.now();
            Ok(tx.kv_delete(&env_id, space, &keys, now)?)
        })
        .await
    }
}
