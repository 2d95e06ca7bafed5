//! Reading variables: redacted for clients, in full for tasks.

use std::collections::BTreeMap;

use trigr_store::EnvVar;

use super::{Cipher, Target, Variable, REDACTED};
use crate::{Engine, Error, Result};

impl Engine {
    /// The server's cipher, or a clear error when it has none (an engine built without one).
    pub(crate) fn env_var_cipher(&self) -> Result<Cipher> {
        self.config().env_var_cipher.clone().ok_or_else(|| {
            Error::Conflict(
                "environment variables need an encryption key; this server has none".into(),
            )
        })
    }

    /// Every variable of the environment, by name, secret values redacted.
    pub async fn list_env_vars(&self, target: &Target) -> Result<Vec<Variable>> {
        let cipher = self.env_var_cipher()?;
        let env_id = target.env_id.clone();
        let stored = self.read(move |tx| Ok(tx.env_vars(&env_id)?)).await?;
        stored
            .iter()
            .map(|v| redacted(&cipher, &target.env_id, v))
            .collect()
    }

    /// The variable named `name` (checked), its value redacted if secret.
    pub async fn env_var(&self, target: &Target, name: &str) -> Result<Variable> {
        let cipher = self.env_var_cipher()?;
        let (env_id, n) = (target.env_id.clone(), name.to_string());
        let stored = self.read(move |tx| Ok(tx.env_var(&env_id, &n)?)).await?;
        let stored = stored
            .ok_or_else(|| Error::not_found(format!("Environment variable {name} not found")))?;
        redacted(&cipher, &target.env_id, &stored)
    }

    /// Every variable of environment `env_id` with its value, secret or not: what a task of
    /// the environment reads.
    pub async fn env_var_values(&self, env_id: &str) -> Result<BTreeMap<String, String>> {
        let cipher = self.env_var_cipher()?;
        let id = env_id.to_string();
        let stored = self.read(move |tx| Ok(tx.env_vars(&id)?)).await?;
        stored
            .into_iter()
            .map(|v| Ok((v.name.clone(), cipher.open(env_id, &v.name, &v.value)?)))
            .collect()
    }
}

/// A stored variable as a client sees it. A secret value is still opened, so a server with the
/// wrong key says so rather than listing what it cannot read.
fn redacted(cipher: &Cipher, env_id: &str, v: &EnvVar) -> Result<Variable> {
    let value = cipher.open(env_id, &v.name, &v.value)?;
    Ok(Variable {
        name: v.name.clone(),
        value: if v.is_secret {
            REDACTED.to_string()
        } else {
            value
        },
        is_secret: v.is_secret,
    })
}
