//! An environment's variables (`trigr_engine::env_vars`): named values a task reads through
//! its context. The store keeps each value sealed (encrypted by the engine) and never sees
//! the plain text.
//!
//! **Every write is one statement** on one row, decided by the database: a create finds the
//! name free or changes nothing, an update or delete finds the row or changes nothing. Writers
//! that add variables first take [`EnvVarTx::lock_env_vars`], so the count they check against
//! the limit cannot change under them.

use trigr_types::Millis;

use crate::Result;

/// One variable as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvVar {
    pub name: String,
    /// The sealed value (see `trigr_engine::env_vars::Cipher`), never the plain text.
    pub value: String,
    /// Whether list and retrieve answers redact the value.
    pub is_secret: bool,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// Reading an environment's variables.
pub trait EnvVarRead {
    /// The names of the environment's variables, in order: what a count or a check of names
    /// needs, without their (sealed, up to 64 KiB) values.
    fn env_var_names(&mut self, env_id: &str) -> Result<Vec<String>>;
    /// Every variable of the environment, by name.
    fn env_vars(&mut self, env_id: &str) -> Result<Vec<EnvVar>>;
    /// The variable with this name.
    fn env_var(&mut self, env_id: &str, name: &str) -> Result<Option<EnvVar>>;
}

/// Writing an environment's variables.
pub trait EnvVarTx {
    /// Makes the writers of the environment's variables that come later in other
    /// transactions wait until this one ends (a named lock, which nothing else waits for),
    /// so writers that count its variables before adding some (on any server of a PostgreSQL
    /// database) take turns; nothing on SQLite, whose writers take turns anyway.
    fn lock_env_vars(&mut self, env_id: &str) -> Result<()>;
    /// Writes the variable, replacing the value of one with its name (whose `created_at`
    /// stays); a secret variable stays secret, a plain one becomes secret when `var` is.
    fn env_var_put(&mut self, env_id: &str, var: &EnvVar) -> Result<()>;
    /// Writes the variable only if none has its name; false (and nothing written) otherwise.
    fn env_var_insert(&mut self, env_id: &str, var: &EnvVar) -> Result<bool>;
    /// Replaces the value of the variable with this name; false when there is none.
    fn env_var_update(
        &mut self,
        env_id: &str,
        name: &str,
        value: &str,
        updated_at: Millis,
    ) -> Result<bool>;
    /// Deletes the variable with this name; false when there is none.
    fn env_var_delete(&mut self, env_id: &str, name: &str) -> Result<bool>;
}
