//! `kv`: an environment's key-value entries, in two spaces that never meet
//! ([`KvSpace`]):
//!
//! * the **cache** — entries with a time to live, written one by one or many at once (all or
//!   nothing), and written only where absent ([`Engine::kv_set_if_absent`]): a lock of which
//!   exactly one of any number of concurrent callers, on any server of a database, wins;
//! * the **environment's metadata store** — entries kept until deleted unless given a time to
//!   live. Unlike a run's metadata (`crate::metadata`), which belongs to one run, is sent with
//!   it to its worker and realtime subscribers and is deleted with it, these belong to the
//!   environment and outlive every run.
//!
//! The route checks what a client sent with the functions here ([`check_key`],
//! [`check_keys`], [`check_value`], [`check_ttl`]), which make [`NewEntry`] values; the
//! commands (`get`, `set`, `delete`, `reclaim`) take only checked values.
//!
//! **Expiry** is exact to the millisecond of the engine's clock: an entry set with a time to
//! live of `n` seconds at `t` is read until `t + n·1000 − 1` and gone at `t + n·1000`, on
//! every server, whether or not the timer loop has deleted its row yet. The loop reclaims
//! expired rows in writes of at most [`RECLAIM_BATCH`] ([`Engine::reclaim_kv`]).
//!
//! [`Engine::kv_set_if_absent`]: crate::Engine::kv_set_if_absent
//! [`Engine::reclaim_kv`]: crate::Engine::reclaim_kv

mod delete;
mod get;
mod reclaim;
mod set;

pub use reclaim::{Reclaimed, RECLAIM_BATCH};
pub use trigr_store::{KvEntry, KvSpace};

use trigr_types::Millis;

use crate::{Error, Result};

/// The longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 512;
/// The largest value, in bytes of its JSON text.
pub const MAX_VALUE_BYTES: usize = 256 * 1024;
/// The most keys (or entries) one call names.
pub const MAX_KEYS: usize = 100;
/// The longest time to live, in seconds (a year).
pub const MAX_TTL_SECS: i64 = 365 * 24 * 3600;

/// A checked entry to write: a valid key, a value within the limit as JSON text, and its
/// time to live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEntry {
    pub key: String,
    /// JSON text.
    pub value: String,
    /// Milliseconds it lives; `None`: until deleted.
    pub ttl_ms: Option<i64>,
}

impl NewEntry {
    /// The entry as stored when written at `now`.
    fn at(&self, now: Millis) -> KvEntry {
        KvEntry {
            key: self.key.clone(),
            value: self.value.clone(),
            expires_at: self.ttl_ms.map(|ttl| now.saturating_add(ttl)),
            updated_at: now,
        }
    }
}

/// A key a client sent: 1 to [`MAX_KEY_BYTES`] bytes, no NUL or other control character.
pub fn check_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::invalid("key must not be empty"));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(Error::invalid(format!(
            "key is {} bytes long; the limit is {MAX_KEY_BYTES}",
            key.len()
        )));
    }
    if key.chars().any(char::is_control) {
        return Err(Error::invalid(
            "key must not contain NUL bytes or other control characters",
        ));
    }
    Ok(())
}

/// The keys of one call: 1 to [`MAX_KEYS`] of them, each valid, none twice.
pub fn check_keys(keys: &[String]) -> Result<()> {
    check_count(keys.len(), "keys")?;
    let mut seen = std::collections::HashSet::with_capacity(keys.len());
    for key in keys {
        check_key(key)?;
        if !seen.insert(key.as_str()) {
            return Err(Error::invalid(format!("key '{key}' is named twice")));
        }
    }
    Ok(())
}

/// How many keys or entries one call names: 1 to [`MAX_KEYS`].
pub fn check_count(n: usize, what: &str) -> Result<()> {
    if n == 0 {
        return Err(Error::invalid(format!("{what} must not be empty")));
    }
    if n > MAX_KEYS {
        return Err(Error::invalid(format!(
            "{what} names {n} items; the limit is {MAX_KEYS} in one call"
        )));
    }
    Ok(())
}

/// A value as stored: its JSON text, at most [`MAX_VALUE_BYTES`] (413 beyond).
pub fn check_value(key: &str, value: &serde_json::Value) -> Result<String> {
    let text = value.to_string();
    if text.len() > MAX_VALUE_BYTES {
        return Err(Error::TooLarge(format!(
            "the value of key '{key}' is {} bytes of JSON; the limit is {MAX_VALUE_BYTES}",
            text.len()
        )));
    }
    Ok(text)
}

/// A time to live a client sent, in whole seconds from 1 to [`MAX_TTL_SECS`], as
/// milliseconds.
pub fn check_ttl(ttl: i64) -> Result<i64> {
    if !(1..=MAX_TTL_SECS).contains(&ttl) {
        return Err(Error::invalid(format!(
            "ttl must be a whole number of seconds from 1 to {MAX_TTL_SECS}, not {ttl}"
        )));
    }
    Ok(ttl * 1000)
}

/// A checked entry from what a client sent for `space`: the cache requires a time to live,
/// the metadata store takes one or none.
pub fn check_entry(
    space: KvSpace,
    key: &str,
    value: &serde_json::Value,
    ttl: Option<i64>,
) -> Result<NewEntry> {
    check_key(key)?;
    let ttl_ms = match (space, ttl) {
        (_, Some(ttl)) => Some(check_ttl(ttl)?),
        (KvSpace::Cache, None) => {
            return Err(Error::invalid(
                "ttl is required: every cache entry expires (whole seconds from 1)",
            ))
        }
        (KvSpace::Metadata, None) => None,
    };
    Ok(NewEntry {
        key: key.to_string(),
        value: check_value(key, value)?,
        ttl_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_bounded_and_printable() {
        assert!(check_key("user:profile:123").is_ok());
        assert!(check_key(&"k".repeat(MAX_KEY_BYTES)).is_ok());
        for bad in ["", "a\0b", "line\nbreak"] {
            assert!(matches!(check_key(bad), Err(Error::Invalid(_))), "{bad:?}");
        }
        let long = "é".repeat(MAX_KEY_BYTES / 2 + 1);
        assert!(matches!(check_key(&long), Err(Error::Invalid(_))));
        let many: Vec<String> = (0..=MAX_KEYS).map(|i| i.to_string()).collect();
        assert!(matches!(check_keys(&many), Err(Error::Invalid(_))));
        assert!(check_keys(&many[..MAX_KEYS]).is_ok());
        assert!(matches!(check_keys(&[]), Err(Error::Invalid(_))));
        let twice = vec!["a".to_string(), "a".to_string()];
        assert!(matches!(check_keys(&twice), Err(Error::Invalid(_))));
    }

    #[test]
    fn values_ttls_and_spaces() {
        let big = json!("x".repeat(MAX_VALUE_BYTES));
        assert!(matches!(check_value("k", &big), Err(Error::TooLarge(_))));
        assert_eq!(check_value("k", &json!({"a": 1})).unwrap(), r#"{"a":1}"#);
        assert_eq!(check_ttl(10).unwrap(), 10_000);
        for bad in [0, -1, MAX_TTL_SECS + 1, i64::MAX, i64::MIN] {
            assert!(matches!(check_ttl(bad), Err(Error::Invalid(_))), "{bad}");
        }
        assert!(check_entry(KvSpace::Cache, "k", &json!(1), None).is_err());
        let e = check_entry(KvSpace::Metadata, "k", &json!(1), None).unwrap();
        assert_eq!(e.ttl_ms, None);
        assert_eq!(e.at(5).expires_at, None);
        let e = check_entry(KvSpace::Cache, "k", &json!(1), Some(3)).unwrap();
        assert_eq!(e.at(5).expires_at, Some(3_005));
    }
}
