//! Deleting a variable.

use super::Target;
use crate::{Engine, Error, Result};

impl Engine {
    /// Deletes variable `name`: 404 when there is none.
    pub async fn delete_env_var(&self, target: &Target, name: String) -> Result<()> {
        let env_id = target.env_id.clone();
        self.write(move |tx| {
            if !tx.env_var_delete(&env_id, &name)? {
                return Err(Error::not_found(format!(
                    "Environment variable {name} not found"
                )));
            }
            Ok(())
        })
        .await
    }
}
