//! Idempotency keys made the way the official SDK makes them, and releasing a key.
//!
//! [`create`] hashes key material exactly like `idempotencyKeys.create` of
//! `@trigger.dev/core` v4: the parts of the key, then the scope's parts, joined with `-`, and
//! the SHA-256 of that text in lowercase hex (64 characters). The `run` scope adds the id of
//! the run the key is made in, the `attempt` scope that id and the attempt number, the
//! `global` scope nothing. Outside a task the official SDK has no run, so there every scope
//! hashes like `global`: a key made outside a task in Rust with [`Scope::Global`] and one
//! made outside a task with the official SDK (any scope) are the same key, and a trigger
//! carrying either dedupes to one run.
//!
//! [`IdempotencyKeys::reset`] releases a key (`POST /api/v1/idempotencyKeys/{key}/reset`), so
//! the next trigger of the task with it makes a new run.
//!
//! ```no_run
//! # async fn f(client: trigr_sdk::Client) -> trigr_sdk::Result<()> {
//! use trigr_sdk::idempotency_keys::{create, Scope};
//! use trigr_sdk::TriggerOptions;
//! let key = create(["order", "1234"], &Scope::Global);
//! client.trigger_id("charge", &serde_json::json!({}), TriggerOptions::new().idempotency_key(&key)).await?;
//! client.idempotency_keys().reset("charge", &key).await?;
//! # Ok(()) }
//! ```

use reqwest::Method;
use sha2::{Digest, Sha256};
use trigr_types::wire::common::Id;
use trigr_types::wire::rest::IdempotencyKeyReset;

use crate::error::{Error, Result};
use crate::http::{encode, Http, Tries};

/// What a key is unique to, beyond its own parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The same key everywhere.
    Global,
    /// One key per run: the id of the run the key is made in (`ctx.run.id`).
    Run {
        /// The run's id (`run_…`).
        run_id: String,
    },
    /// One key per attempt of a run.
    Attempt {
        /// The run's id (`run_…`).
        run_id: String,
        /// The attempt's number, from 1.
        attempt: u32,
    },
}

impl Scope {
    /// The parts the scope adds to the key material.
    fn parts(&self) -> Vec<String> {
        match self {
            Scope::Global => Vec::new(),
            Scope::Run { run_id } => vec![run_id.clone()],
            Scope::Attempt { run_id, attempt } => vec![run_id.clone(), attempt.to_string()],
        }
    }
}

/// The idempotency key for these parts in this scope: SHA-256 (lowercase hex) of the parts
/// and the scope's parts joined with `-`, as the official SDK computes it.
pub fn create<I, S>(parts: I, scope: &Scope) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut material: Vec<String> = parts.into_iter().map(|p| p.as_ref().to_string()).collect();
    material.extend(scope.parts());
    hex::encode(Sha256::digest(material.join("-").as_bytes()))
}

/// The idempotency-key API of one client
/// ([`Client::idempotency_keys`](crate::Client::idempotency_keys)).
#[derive(Clone, Debug)]
pub struct IdempotencyKeys {
    pub(crate) http: Http,
}

impl IdempotencyKeys {
    /// Releases `key` for `task`: the next trigger with it makes a new run. A key no run of
    /// the task holds is a not-found error.
    pub async fn reset(&self, task: &str, key: &str) -> Result<()> {
        let path = format!("/api/v1/idempotencyKeys/{}/reset", encode(key));
        let body = serde_json::to_value(IdempotencyKeyReset {
            task_identifier: task.to_string(),
        })
        .map_err(|e| Error::json("the reset", e))?;
        let _: Id = self
            .http
            .call(Method::POST, &path, Some(&body), Tries::Transient)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_the_sha256_of_its_parts_and_scope_joined_with_dashes() {
        let expect = |text: &str| hex::encode(Sha256::digest(text.as_bytes()));
        assert_eq!(create(["a"], &Scope::Global), expect("a"));
        assert_eq!(create(["a", "b"], &Scope::Global), expect("a-b"));
        let run = Scope::Run {
            run_id: "run_1".into(),
        };
        assert_eq!(create(["a"], &run), expect("a-run_1"));
        let attempt = Scope::Attempt {
            run_id: "run_1".into(),
            attempt: 2,
        };
        assert_eq!(create(["a", "b"], &attempt), expect("a-b-run_1-2"));
        // A value computed elsewhere: `printf my-key | sha256sum`.
        assert_eq!(
            create(["my-key"], &Scope::Global),
            "5e78863ed1ffb9fc66b1d61634b126bf8eb20267e7996297eeeb9b19c8c0f732"
        );
    }
}
