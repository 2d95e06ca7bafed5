//! What both backends say the same way: every SQL statement they share, written once, and the
//! transaction traits built on them, implemented once over a backend's connection ([`Db`]).
//!
//! A shared statement ([`Sql`]) is written in one spelling: parameters `$1`, `$2`, …, boolean
//! literals `TRUE` and `FALSE`, and its row lock ([`Lock`]) kept apart from the text, as is the
//! `RETURNING seq` of an insert ([`Db::insert_seq`]). Each backend reads it in its own
//! [`Spelling`], made the first time the statement runs and kept for good (no rewriting per
//! call): SQLite numbers parameters `?1`, `?2`, …, writes booleans as the integers its tables
//! hold (`1`, `0`, so that partial indexes on them still apply), and drops the lock (one
//! writer) and the `RETURNING` (it reads the new `seq` as the last row id, which costs less);
//! PostgreSQL adds the lock in a write transaction only.
//!
//! Parameters are passed as `&[&dyn Value]`: the same Rust values each driver converts its own
//! way, as it did when each backend spelled its statements itself (a `bool` is an integer in
//! SQLite and a `BOOLEAN` in PostgreSQL; JSON columns are text in both).
//!
//! What only one backend can do (advisory locks, `unnest` and arrays, `json_each`) is a hook
//! trait next to the shared implementation that needs it ([`queues::DequeueLock`],
//! [`runs::RunsNative`], [`waitpoints::WaitpointsNative`], [`journal::LogsNative`],
//! [`output_streams::ChunksNative`], [`retention::RetentionNative`]), implemented in `sqlite/`
//! and `postgres/`.

pub(crate) mod ai_tools;
pub(crate) mod attempts;
pub(crate) mod batches;
pub(crate) mod dashboard;
pub(crate) mod debounce;
pub(crate) mod deployments;
pub(crate) mod env_vars;
pub(crate) mod envs;
pub(crate) mod events;
pub(crate) mod inputs;
pub(crate) mod journal;
pub(crate) mod kv;
pub(crate) mod mollifier;
pub(crate) mod output_streams;
pub(crate) mod packets;
pub(crate) mod pats;
pub(crate) mod queues;
pub(crate) mod retention;
pub(crate) mod runs;
pub(crate) mod schedules;
pub(crate) mod snapshots;
pub(crate) mod waitpoints;

use std::borrow::Cow;
use std::sync::OnceLock;

use crate::rows::Columns;
use crate::{Error, Result};

/// A shared statement, `format!`-style: `sql!("SELECT {COLUMNS} FROM t WHERE id = $1")`; with
/// a row lock, `sql!(Update: "…")` (see [`Lock`]); an insert returning its new `seq`,
/// `sql!(returning seq: "…")` (see [`Db::insert_seq`]).
macro_rules! sql {
    (returning seq: $($text:tt)+) => {
        $crate::sql::Sql::new($crate::sql::Lock::None, true, || {
            ::std::fmt::format(format_args!($($text)+))
        })
    };
    ($lock:ident: $($text:tt)+) => {
        $crate::sql::Sql::new($crate::sql::Lock::$lock, false, || {
            ::std::fmt::format(format_args!($($text)+))
        })
    };
    ($($text:tt)+) => {
        $crate::sql::Sql::new($crate::sql::Lock::None, false, || {
            ::std::fmt::format(format_args!($($text)+))
        })
    };
}
pub(crate) use sql;

/// The row lock a statement takes in a write transaction (see [`crate::tx`]). SQLite has one
/// writer and needs none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lock {
    None,
    /// The rows read stay locked until the transaction ends.
    Update,
    /// Held against [`Lock::Update`] without blocking other holders.
    Share,
    /// Held against deleting the row or [`Lock::Update`] (not against updates of columns
    /// outside its key): the lightest lock that keeps a referenced row in place.
    KeyShare,
    /// [`Lock::Update`], leaving rows another writer holds for a later pass.
    SkipLocked,
    /// [`Lock::Update`] on the rows of `runs` only (a join).
    UpdateOfRuns,
}

impl Lock {
    fn clause(self) -> &'static str {
        match self {
            Lock::None => "",
            Lock::Update => " FOR UPDATE",
            Lock::Share => " FOR SHARE",
            Lock::KeyShare => " FOR KEY SHARE",
            Lock::SkipLocked => " FOR UPDATE SKIP LOCKED",
            Lock::UpdateOfRuns => " FOR UPDATE OF runs",
        }
    }
}

/// How a transaction reads shared statements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Spelling {
    Sqlite = 0,
    /// A PostgreSQL read snapshot: no lock.
    PostgresRead = 1,
    /// A PostgreSQL write transaction: with the statement's lock.
    PostgresWrite = 2,
}

impl Spelling {
    fn spell(self, text: &str, lock: Lock, returning_seq: bool) -> String {
        let returning = if returning_seq { " RETURNING seq" } else { "" };
        match self {
            Spelling::Sqlite => sqlite_spelling(text),
            Spelling::PostgresRead => format!("{text}{returning}"),
            Spelling::PostgresWrite => format!("{text}{}{returning}", lock.clause()),
        }
    }
}

/// `$n` as `?n` and `TRUE`/`FALSE` as `1`/`0`, outside quoted literals and names.
fn sqlite_spelling(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        let taken = if c == '\'' || c == '"' {
            let end = rest[1..].find(c).map_or(rest.len(), |i| i + 2);
            out.push_str(&rest[..end]);
            end
        } else if c.is_ascii_alphanumeric() || c == '_' {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            out.push_str(match &rest[..end] {
                "TRUE" => "1",
                "FALSE" => "0",
                word => word,
            });
            end
        } else {
            out.push(if c == '$' { '?' } else { c });
            c.len_utf8()
        };
        rest = &rest[taken..];
    }
    out
}

/// A statement both backends run; see the [module](self). Declared as a `static` with
/// [`sql!`], so that each spelling is made once.
pub(crate) struct Sql {
    lock: Lock,
    /// An insert returning the new row's `seq` ([`Db::insert_seq`]).
    returning_seq: bool,
    build: fn() -> String,
    spelled: [OnceLock<Box<str>>; 3],
}

impl Sql {
    pub(crate) const fn new(lock: Lock, returning_seq: bool, build: fn() -> String) -> Sql {
        Sql {
            lock,
            returning_seq,
            build,
            spelled: [OnceLock::new(), OnceLock::new(), OnceLock::new()],
        }
    }

    /// The statement in `spelling`, made on first use.
    pub(crate) fn text(&'static self, spelling: Spelling) -> &'static str {
        self.spelled[spelling as usize].get_or_init(|| {
            let text = (self.build)();
            spelling
                .spell(&text, self.lock, self.returning_seq)
                .into_boxed_str()
        })
    }
}

/// The newest schema version recorded in a store (0 for a new one).
pub(crate) static NEWEST_MIGRATION: Sql =
    sql!("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");

/// Refuses a store that a newer trigr migrated past what this binary knows: it could not read
/// it correctly, and must not write to it.
pub(crate) fn check_schema_version(found: i64) -> Result<()> {
    if found > crate::SCHEMA_VERSION {
        return Err(crate::Error::Open(format!(
            "this store has schema version {found}, but this trigr knows versions up to {}: \
             a newer trigr has upgraded it. Run that version or a newer one (a store is never \
             migrated backwards; see docs/operations.md, Upgrades)",
            crate::SCHEMA_VERSION
        )));
    }
    Ok(())
}

/// Whether a schema migration is recorded as applied (at open, before any transaction).
pub(crate) static MIGRATED: Sql =
    sql!("SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)");

/// A statement parameter: any value both drivers can write.
pub(crate) trait Value: Sync {
    fn sqlite(&self) -> &dyn rusqlite::ToSql;
    fn postgres(&self) -> &(dyn postgres::types::ToSql + Sync);
}

impl<T: rusqlite::ToSql + postgres::types::ToSql + Sync> Value for T {
    fn sqlite(&self) -> &dyn rusqlite::ToSql {
        self
    }
    fn postgres(&self) -> &(dyn postgres::types::ToSql + Sync) {
        self
    }
}

/// A backend's transaction, as the shared implementations use it.
pub(crate) trait Db {
    /// A result row.
    type Row<'r>: Columns;
    /// Whether text columns keep any string, NUL included.
    const TEXT_KEEPS_NUL: bool;
    /// Runs a statement; returns the number of rows it changed.
    fn execute(&mut self, sql: &'static Sql, params: &[&dyn Value]) -> Result<u64>;
    /// Every row a statement returns, each read by `read`.
    fn query<T>(
        &mut self,
        sql: &'static Sql,
        params: &[&dyn Value],
        read: impl FnMut(&Self::Row<'_>) -> Result<T>,
    ) -> Result<Vec<T>>;
    /// The first row a statement returns, if any, read by `read`.
    fn query_first<T>(
        &mut self,
        sql: &'static Sql,
        params: &[&dyn Value],
        read: impl FnOnce(&Self::Row<'_>) -> Result<T>,
    ) -> Result<Option<T>>;
    /// Runs an insert into a table whose `seq` the database assigns (declared
    /// `sql!(returning seq: "…")`); returns the `seq` of the new row.
    fn insert_seq(&mut self, sql: &'static Sql, params: &[&dyn Value]) -> Result<i64>;
    /// The form in which a column read by [`Columns::opt_any_text`] stores `text`.
    fn any_text(text: &str) -> Cow<'_, str>;
}

/// The integer in the first column of the first row a statement returns (0 without a row).
pub(crate) fn int<C: Db>(db: &mut C, sql: &'static Sql, params: &[&dyn Value]) -> Result<i64> {
    Ok(db.query_first(sql, params, |r| r.int(0))?.unwrap_or(0))
}

/// The nullable integer in the first column of the first row a statement returns.
pub(crate) fn opt_int<C: Db>(
    db: &mut C,
    sql: &'static Sql,
    params: &[&dyn Value],
) -> Result<Option<i64>> {
    Ok(db.query_first(sql, params, |r| r.opt_int(0))?.flatten())
}

/// The text in the first column of every row a statement returns.
pub(crate) fn texts<C: Db>(
    db: &mut C,
    sql: &'static Sql,
    params: &[&dyn Value],
) -> Result<Vec<String>> {
    db.query(sql, params, |r| r.text(0))
}

/// What a database failure means, as each backend reads its driver's error codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// A unique index (or primary key) refused a row.
    UniqueViolation,
    /// The database aborted the transaction to break a deadlock or a serialization conflict.
    Aborted,
    /// The database cannot be reached.
    Unreachable,
    Other,
}

impl Failure {
    /// The one place a driver's failure becomes a store error: a unique violation (a
    /// concurrent writer got there first) and an aborted transaction are conflicts, which
    /// running the command again resolves.
    pub(crate) fn error(self, message: String) -> Error {
        match self {
            Failure::UniqueViolation | Failure::Aborted => Error::Conflict(message),
            Failure::Unreachable => Error::Unavailable(message),
            Failure::Other => Error::Database(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static LOCKED: Sql = sql!(SkipLocked: "SELECT a FROM t WHERE b = $1 AND c = $2 AND d = TRUE");
    static INSERT: Sql = sql!(returning seq: "INSERT INTO t (a) VALUES ($1)");
    static QUOTED: Sql =
        sql!("SELECT \"TRUE\", '$1 FALSE' FROM t WHERE x = $10 AND TRUE_ish = FALSE");

    #[test]
    fn each_backend_spells_a_statement_its_way() {
        assert_eq!(
            LOCKED.text(Spelling::Sqlite),
            "SELECT a FROM t WHERE b = ?1 AND c = ?2 AND d = 1"
        );
        assert_eq!(
            LOCKED.text(Spelling::PostgresRead),
            "SELECT a FROM t WHERE b = $1 AND c = $2 AND d = TRUE"
        );
        assert_eq!(
            LOCKED.text(Spelling::PostgresWrite),
            "SELECT a FROM t WHERE b = $1 AND c = $2 AND d = TRUE FOR UPDATE SKIP LOCKED"
        );
        assert_eq!(
            QUOTED.text(Spelling::Sqlite),
            "SELECT \"TRUE\", '$1 FALSE' FROM t WHERE x = ?10 AND TRUE_ish = 0"
        );
        assert_eq!(
            INSERT.text(Spelling::Sqlite),
            "INSERT INTO t (a) VALUES (?1)"
        );
        for pg in [Spelling::PostgresRead, Spelling::PostgresWrite] {
            assert_eq!(
                INSERT.text(pg),
                "INSERT INTO t (a) VALUES ($1) RETURNING seq"
            );
        }
        // Made once: the same text every time.
        assert!(std::ptr::eq(
            LOCKED.text(Spelling::Sqlite),
            LOCKED.text(Spelling::Sqlite)
        ));
    }

    #[test]
    fn only_uniqueness_and_aborts_are_conflicts() {
        let kind = |f: Failure| std::mem::discriminant(&f.error(String::new()));
        let conflict = std::mem::discriminant(&Error::Conflict(String::new()));
        assert_eq!(kind(Failure::UniqueViolation), conflict);
        assert_eq!(kind(Failure::Aborted), conflict);
        assert_ne!(kind(Failure::Other), conflict);
        assert_ne!(kind(Failure::Unreachable), conflict);
    }
}
