//! Reading entries: those alive at the engine's clock.

use super::{KvEntry, KvSpace};
use crate::{Engine, Result};

impl Engine {
    /// The live entries of `space` with these keys (checked by [`super::check_keys`]), in
    /// the order of `keys`; keys without one are left out.
    pub async fn kv_get(
        &self,
        env_id: &str,
        space: KvSpace,
        keys: Vec<String>,
    ) -> Result<Vec<KvEntry>> {
        let env_id = env_id.to_string();
        let now = self.now();
        self.read(move |tx| Ok(tx.kv_entries(&env_id, space, &keys, now)?))
            .await
    }
}
