//! Deleting a tool definition.

use super::update::not_found;
use crate::{Engine, Result};

impl Engine {
    /// Deletes the definition named `name`; a `404` when there is none.
    pub async fn delete_ai_tool(&self, env_id: &str, name: &str) -> Result<()> {
        let (env_id, name) = (env_id.to_string(), name.to_string());
        self.write(move |tx| match tx.delete_ai_tool(&env_id, &name)? {
            true => Ok(()),
            false => Err(not_found(&name)),
        })
        .await
    }
}
