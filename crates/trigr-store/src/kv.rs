//! An environment's key-value entries: the cache and the environment's metadata store
//! (`trigr_engine::kv`). Each entry lives in one [`KvSpace`] of one environment, holds a JSON
//! value as text and may expire.
//!
//! **Expiry is exact.** An entry whose `expires_at` is at or before the `now` a call passes is
//! gone for that call: reads do not return it, [`KvTx::kv_put_if_absent`] takes its place,
//! deletes do not count it. Such rows stay in the table until
//! [`KvTx::delete_expired_kv`] reclaims them, which changes nothing a reader sees.
//!
//! **Every write is one statement**, so a write racing another (on this server or, with
//! PostgreSQL, on another one) is decided by the database: of any number of concurrent
//! [`KvTx::kv_put_if_absent`] calls on one key, exactly one finds it absent.

use trigr_types::Millis;

use crate::Result;

/// The two spaces of entries an environment has; a key in one is unrelated to the same key in
/// the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KvSpace {
    /// The cache API: every entry has a time to live.
    Cache,
    /// The environment's metadata store: entries kept until deleted, unless given a time to
    /// live.
    Metadata,
}

impl KvSpace {
    /// The name stored in the `space` column.
    pub fn as_str(self) -> &'static str {
        match self {
            KvSpace::Cache => "cache",
            KvSpace::Metadata => "metadata",
        }
    }
}

/// One entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KvEntry {
    pub key: String,
    /// JSON text.
    pub value: String,
    /// When it expires (gone from then on); `None`: never.
    pub expires_at: Option<Millis>,
    /// When it was last written.
    pub updated_at: Millis,
}

/// Reading an environment's entries.
pub trait KvRead {
    /// The entries with these keys that are alive at `now`, in the order of `keys`; keys
    /// without one are left out. The caller bounds the number of keys.
    fn kv_entries(
        &mut self,
        env_id: &str,
        space: KvSpace,
        keys: &[String],
        now: Millis,
    ) -> Result<Vec<KvEntry>>;
}

/// Writing an environment's entries.
pub trait KvTx {
    /// Writes the entry, replacing the one with its key (alive or expired).
    fn kv_put(&mut self, env_id: &str, space: KvSpace, entry: &KvEntry) -> Result<()>;
    /// Writes the entry only if no entry with its key is alive at `now` (an expired one is
    /// replaced). One conditional statement; false (and nothing written) when a live entry
    /// holds the key.
    fn kv_put_if_absent(
        &mut self,
        env_id: &str,
        space: KvSpace,
        entry: &KvEntry,
        now: Millis,
    ) -> Result<bool>;
    /// Deletes the entries with these keys; returns how many of them were alive at `now`.
    fn kv_delete(
        &mut self,
        env_id: &str,
        space: KvSpace,
        keys: &[String],
        now: Millis,
    ) -> Result<u64>;
    /// Deletes at most `limit` entries (of any environment and space) expired at `now`,
    /// earliest expiry first; returns how many.
    fn delete_expired_kv(&mut self, now: Millis, limit: usize) -> Result<u64>;
}
