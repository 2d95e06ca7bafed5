//! The trigr store: every durable fact of the platform, behind a transactional interface.
//!
//! The engine never writes SQL. It hands the store a closure over `&mut dyn Tx` (see [`tx`]),
//! or `&mut dyn ReadTx` for a read; a backend runs it inside one transaction and answers only
//! after the change is on disk. Both backends share their SQL and its implementation
//! (`sql`), and differ only where their databases do.
//!
//! * [`Store::write`] — a read-write transaction. The SQLite backend runs all writes on one
//!   thread and *group-commits* them: every closure waiting at a given moment runs in its own
//!   savepoint inside one transaction, and one fsync (`synchronous=FULL`) acknowledges them all.
//!   A closure that returns an error is rolled back alone.
//! * [`Store::read`] — a read-only snapshot on one of several reader connections (WAL).
//!
//! Backends: [`sqlite`] (embedded, the default) and [`postgres`] (a PostgreSQL server, for
//! several servers sharing one database). With PostgreSQL every write is its own transaction
//! on a pooled connection, committed with the server's durable `COMMIT`.

pub mod ai_tools;
pub mod dashboard;
pub mod env_vars;
pub mod events;
pub mod kv;
pub mod model;
pub mod mollifier;
pub mod observe;
pub mod pats;
pub mod postgres;
pub mod retention;
mod rows;
pub mod schedule;
pub mod snapshots;
mod sql;
pub mod sqlite;
pub mod tx;

use std::sync::Arc;

use tokio::sync::oneshot;

pub use ai_tools::{AiTool, AiToolRead, AiToolTx};
pub use dashboard::{DashboardLink, DashboardRead, DashboardSession, DashboardTx, FinishedBucket};
pub use env_vars::{EnvVar, EnvVarRead, EnvVarTx};
pub use events::{EventRead, EventTx, RunEvent, RunEventKind};
pub use kv::{KvEntry, KvRead, KvSpace, KvTx};
pub use model::*;
pub use mollifier::{BufferCursor, BufferDepth, BufferedEntry, MollifierRead, MollifierTx};
pub use pats::{PatEnvKey, PatLogin, PatRead, PatTx, PersonalAccessToken};
pub use retention::{ExpiredRun, RetentionRead, RetentionTx, SweepCursor};
pub use schedule::{Schedule, ScheduleFilter, ScheduleKind, ScheduledRunOptions};
pub use snapshots::{Snapshot, SnapshotRead, SnapshotStatus, SnapshotTx};
pub use tx::{ReadTx, Tx};

/// The schema version this build writes: the number of its newest migration. A store with a
/// newer one is refused at open; an older one is migrated forward.
pub const SCHEMA_VERSION: i64 = 31;

/// The file of a `sqlite://` URL.
fn sqlite_file(url: &str) -> Option<&str> {
    url.strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
}

fn sqlite_path(url: &str) -> Result<std::path::PathBuf> {
    match sqlite_file(url) {
        Some(path) => Ok(path.into()),
        None => Err(Error::Open(
            "backup and restore copy SQLite stores; back up PostgreSQL with pg_dump or \
             continuous archiving (see docs/operations.md, Backup)"
                .into(),
        )),
    }
}

/// Store failures. None of them is a client's mistake.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    #[error("database error: {0}")]
    Database(String),
    #[error("stored data could not be read: {0}")]
    Corrupt(String),
    #[error("the store is closed")]
    Closed,
    #[error("could not open the store: {0}")]
    Open(String),
    /// A concurrent writer won a uniqueness race; running the command again resolves it.
    #[error("a concurrent write conflicted: {0}")]
    Conflict(String),
    /// The database cannot be reached right now.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// A write job as a backend sees it: run it in a savepoint, keep or roll it back as it says,
/// and call its reply once the surrounding commit is durable (or failed).
pub type WriteJob = Box<dyn FnOnce(&mut dyn Tx) -> WriteOutcome + Send>;

pub struct WriteOutcome {
    pub keep: bool,
    pub reply: Box<dyn FnOnce(Option<Error>) + Send>,
}

pub type ReadJob = Box<dyn FnOnce(&mut dyn ReadTx) + Send>;

/// Which writes wait for which when the database is busy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    /// Everyday writes: served first.
    Live,
    /// The writes of an environment in a burst (its buffered triggers, their draining, its
    /// workers' dequeues and completions): they take what the live writes leave, a bounded
    /// share of each commit, so one bursting environment cannot slow the others' writes. Never
    /// starved: every commit takes at least one.
    Bulk,
}

/// Called with the id of an environment another server announced new work in.
pub type WakeListener = Arc<dyn Fn(&str) + Send + Sync>;

/// A storage backend.
pub trait Backend: Send + Sync {
    fn submit_write(&self, job: WriteJob, lane: Lane);
    fn submit_read(&self, job: ReadJob);
    /// Tells the other servers on this database that these environments may have work ready
    /// (after the commit that made it so). A backend only one server uses has no one to tell.
    fn publish_wakes(&self, _env_ids: &[String]) {}
    /// Calls `listener` for every environment another server announces.
    fn subscribe_wakes(&self, _listener: WakeListener) {}
    /// Finishes queued writes and stops accepting new ones.
    fn close(&self);
    /// Whether recorded run events need [`events::EventTx::sequence_run_events`] before
    /// readers see them (PostgreSQL numbers them after their transactions commit).
    fn sequences_events_later(&self) -> bool {
        false
    }
    /// Whether several servers may share this database (PostgreSQL).
    fn is_shared(&self) -> bool {
        false
    }
}

/// Handle to the store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    backend: Arc<dyn Backend>,
}

impl Store {
    pub fn new(backend: Arc<dyn Backend>) -> Store {
        Store { backend }
    }

    /// Opens the store named by a database URL (`sqlite://path`, `postgres://…` or
    /// `postgresql://…`).
    pub fn open(url: &str) -> Result<Store> {
        Store::open_observed(url, None)
    }

    /// [`Store::open`], telling `observer` of every commit (see [`observe`]).
    pub fn open_observed(
        url: &str,
        observer: Option<Arc<dyn observe::CommitObserver>>,
    ) -> Result<Store> {
        if let Some(path) = sqlite_file(url) {
            let backend = sqlite::Sqlite::open_observed(std::path::Path::new(path), observer)?;
            return Ok(Store::new(Arc::new(backend)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let backend = postgres::Postgres::open_observed(url, observer)?;
            return Ok(Store::new(Arc::new(backend)));
        }
        Err(Error::Open(format!(
            "unsupported database URL '{url}': use sqlite://path/to/file.db or postgres://host/db"
        )))
    }

    /// Whether several servers may share this store's database (PostgreSQL; a SQLite file
    /// has one server).
    pub fn is_shared(&self) -> bool {
        self.backend.is_shared()
    }

    /// Copies a SQLite store (named by its URL) to `dest` while servers use it; returns the
    /// copy's schema version. PostgreSQL stores are backed up with `pg_dump` or continuous
    /// archiving instead (docs/operations.md).
    pub fn backup(url: &str, dest: &std::path::Path) -> Result<i64> {
        sqlite::backup::backup(&sqlite_path(url)?, dest)
    }

    /// Puts a backup in place as the SQLite store named by `url`; see
    /// [`sqlite::backup::restore`].
    pub fn restore(
        url: &str,
        src: &std::path::Path,
        force: bool,
        now: i64,
    ) -> Result<Option<std::path::PathBuf>> {
        sqlite::backup::restore(src, &sqlite_path(url)?, force, now)
    }

    /// Runs `f` in a write transaction; resolves once the change is durable. An `Err` from `f`
    /// rolls back everything `f` did.
    pub async fn write<R, E, F>(&self, f: F) -> std::result::Result<R, E>
    where
        F: FnOnce(&mut dyn Tx) -> std::result::Result<R, E> + Send + 'static,
        R: Send + 'static,
        E: From<Error> + Send + 'static,
    {
        self.write_in(Lane::Live, f).await
    }

    /// [`Store::write`] in `lane`.
    #[tracing::instrument(level = "debug", name = "store.write", skip_all)]
    pub async fn write_in<R, E, F>(&self, lane: Lane, f: F) -> std::result::Result<R, E>
    where
        F: FnOnce(&mut dyn Tx) -> std::result::Result<R, E> + Send + 'static,
        R: Send + 'static,
        E: From<Error> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.backend.submit_write(
            Box::new(move |t| {
                let result = f(t);
                WriteOutcome {
                    keep: result.is_ok(),
                    reply: Box::new(move |commit_error| {
                        let out = match commit_error {
                            None => result,
                            Some(e) => Err(E::from(e)),
                        };
                        let _ = tx.send(out);
                    }),
                }
            }),
            lane,
        );
        rx.await.map_err(|_| E::from(Error::Closed))?
    }

    /// Runs `f` on a read-only snapshot: it can only read ([`ReadTx`]).
    pub async fn read<R, E, F>(&self, f: F) -> std::result::Result<R, E>
    where
        F: FnOnce(&mut dyn ReadTx) -> std::result::Result<R, E> + Send + 'static,
        R: Send + 'static,
        E: From<Error> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.backend.submit_read(Box::new(move |t| {
            let _ = tx.send(f(t));
        }));
        rx.await.map_err(|_| E::from(Error::Closed))?
    }

    /// See [`Backend::publish_wakes`].
    /// See [`Backend::sequences_events_later`].
    pub fn sequences_events_later(&self) -> bool {
        self.backend.sequences_events_later()
    }

    pub fn publish_wakes(&self, env_ids: &[String]) {
        if !env_ids.is_empty() {
            self.backend.publish_wakes(env_ids);
        }
    }

    /// See [`Backend::subscribe_wakes`].
    pub fn subscribe_wakes(&self, listener: WakeListener) {
        self.backend.subscribe_wakes(listener);
    }

    pub fn close(&self) {
        self.backend.close();
    }
}
