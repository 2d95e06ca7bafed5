//! Writing variables: create one (refused if the name is taken), update one (refused if it is
//! not), or import many at once, all or nothing. Each variable is one conditional write; the
//! limit on variables per environment is checked in the same transaction before any, after
//! taking the environment's lock, so concurrent writers (on any server) never pass it together.

use std::collections::HashSet;

use trigr_store::EnvVar;
use trigr_types::Millis;

use super::{Cipher, Target, MAX_VARS};
use crate::txn::Txn;
use crate::{Engine, Error, Result};

/// Variables to import, checked by [`super::check_import`].
#[derive(Clone, Debug)]
pub struct Import {
    /// (name, value) pairs; a name named twice takes its last value.
    pub variables: Vec<(String, String)>,
    /// Whether existing variables take the imported values; if not they keep theirs.
    pub override_existing: bool,
    pub is_secret: bool,
}

/// What an import did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Written {
    /// Variables created or given a new value.
    pub written: usize,
    /// Existing variables left as they were (`override_existing: false`).
    pub kept: usize,
}

impl Engine {
    /// Creates variable `name` (name and value checked): a 409 when one has the name or the
    /// environment holds [`MAX_VARS`] already.
    pub async fn create_env_var(
        &self,
        target: &Target,
        name: String,
        value: String,
        is_secret: bool,
    ) -> Result<()> {
        let cipher = self.env_var_cipher()?;
        let env_id = target.env_id.clone();
        self.write(move |tx| {
            check_room(tx, &env_id, 1)?;
            let var = sealed(&cipher, &env_id, name, &value, is_secret, tx.now());
            if !tx.env_var_insert(&env_id, &var)? {
                return Err(Error::Conflict(format!(
                    "Environment variable {} already exists",
                    var.name
                )));
            }
            Ok(())
        })
        .await
    }

    /// Gives variable `name` a new value (checked), keeping its secrecy: 404 when there is
    /// none.
    pub async fn update_env_var(&self, target: &Target, name: String, value: String) -> Result<()> {
        let cipher = self.env_var_cipher()?;
        let env_id = target.env_id.clone();
        self.write(move |tx| {
            let now = tx.now();
            let value = cipher.seal(&env_id, &name, &value);
            if !tx.env_var_update(&env_id, &name, &value, now)? {
                return Err(Error::not_found(format!(
                    "Environment variable {name} not found"
                )));
            }
            Ok(())
        })
        .await
    }

    /// Writes the imported variables in one transaction: all of them or, on any failure
    /// (the limit included), none.
    pub async fn import_env_vars(&self, target: &Target, import: Import) -> Result<Written> {
        let cipher = self.env_var_cipher()?;
        let env_id = target.env_id.clone();
        self.write(move |tx| {
            tx.lock_env_vars(&env_id)?;
            let held: HashSet<String> = tx.env_var_names(&env_id)?.into_iter().collect();
            let mut last = std::collections::BTreeMap::new();
            for (name, value) in &import.variables {
                last.insert(name.as_str(), value.as_str());
            }
            let new = last.keys().filter(|n| !held.contains(**n)).count();
            check_count(held.len(), new)?;
            let now = tx.now();
            let mut done = Written {
                written: 0,
                kept: 0,
            };
            // In name order, so concurrent imports lock rows in one order (PostgreSQL).
            for (name, value) in last {
                let var = sealed(
                    &cipher,
                    &env_id,
                    name.to_string(),
                    value,
                    import.is_secret,
                    now,
                );
                if import.override_existing {
                    tx.env_var_put(&env_id, &var)?;
                    done.written += 1;
                } else if tx.env_var_insert(&env_id, &var)? {
                    done.written += 1;
                } else {
                    done.kept += 1;
                }
            }
            Ok(done)
        })
        .await
    }
}

fn sealed(
    cipher: &Cipher,
    env_id: &str,
    name: String,
    value: &str,
    is_secret: bool,
    now: Millis,
) -> EnvVar {
    EnvVar {
        value: cipher.seal(env_id, &name, value),
        name,
        is_secret,
        created_at: now,
        updated_at: now,
    }
}

/// Refuses a write of one new name that would take the environment past [`MAX_VARS`].
fn check_room(tx: &mut Txn<'_>, env_id: &str, new: usize) -> Result<()> {
    tx.lock_env_vars(env_id)?;
    let held = tx.env_var_names(env_id)?.len();
    check_count(held, new)
}

fn check_count(held: usize, new: usize) -> Result<()> {
    if held + new > MAX_VARS {
        return Err(Error::Conflict(format!(
            "the environment holds {held} variables and this adds {new}; the limit is {MAX_VARS}"
        )));
    }
    Ok(())
}
