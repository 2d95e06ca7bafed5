//! The PostgreSQL backend, for several servers sharing one database.
//!
//! Every job runs in its own transaction on a pooled connection (r2d2), on a blocking thread:
//! `BEGIN` … `COMMIT` for writes, with `synchronous_commit` on whatever the server's default (a
//! write is acknowledged only once durable), and a read-only repeatable-read snapshot for
//! reads. Writes run at READ COMMITTED: compare-and-set updates re-check their condition on the
//! latest row, and a write that loses a race on a unique index fails with [`Error::Conflict`].
//! Migrations are applied at open under a transaction-level advisory lock, so servers starting
//! together apply each one exactly once.
//!
//! The synchronous `postgres` client drives its own small runtime, so connections are opened,
//! used and closed on blocking threads only, never on an async worker.

mod batches;
mod deployments;
mod envs;
mod packets;
mod queues;
mod runs;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use postgres::error::SqlState;
use postgres::types::{FromSqlOwned, ToSql};
use postgres::{Client, NoTls, Row};
use r2d2_postgres::PostgresConnectionManager;

use crate::rows::to_json;
use crate::{Backend, Error, ReadJob, Result, WriteJob};

/// Versioned migrations, applied in order at open; numbered like the SQLite ones.
const MIGRATIONS: &[(i64, &str)] = &[(1, include_str!("../../migrations/postgres/0001_init.sql"))];

/// Key of the advisory lock held while migrating.
const MIGRATION_LOCK: i64 = 0x7472_6967_725f_6d69; // "trigr_mi"

/// Connections per server.
const POOL_SIZE: u32 = 16;
/// How long a job waits for a free connection.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `close` waits for jobs already started.
const CLOSE_PATIENCE: Duration = Duration::from_secs(60);

type Pool = r2d2::Pool<PostgresConnectionManager<NoTls>>;
type Param<'a> = &'a (dyn ToSql + Sync);

/// A transaction (or read snapshot) on one connection.
pub struct PgTx<'c> {
    /// `None` when no connection could be had: then every statement fails with `failed`.
    client: Option<&'c mut Client>,
    /// The first statement that failed: PostgreSQL then refuses the rest of the transaction
    /// (and would answer `COMMIT` with a rollback), so such a transaction is never kept.
    failed: Option<Error>,
}

impl From<postgres::Error> for Error {
    fn from(e: postgres::Error) -> Self {
        if let Some(db) = e.as_db_error() {
            let code = db.code();
            if *code == SqlState::UNIQUE_VIOLATION
                || *code == SqlState::T_R_SERIALIZATION_FAILURE
                || *code == SqlState::T_R_DEADLOCK_DETECTED
            {
                return Error::Conflict(db.to_string());
            }
            return Error::Database(db.to_string());
        }
        let source = std::error::Error::source(&e);
        let message = match source {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        };
        if e.is_closed() || source.is_some_and(|s| s.is::<std::io::Error>()) {
            return Error::Unavailable(message);
        }
        Error::Database(message)
    }
}

impl<'c> PgTx<'c> {
    fn new(client: &'c mut Client) -> PgTx<'c> {
        PgTx {
            client: Some(client),
            failed: None,
        }
    }

    /// A transaction that could not start: every statement in it fails with `cause`.
    fn failed(cause: Error) -> PgTx<'c> {
        PgTx {
            client: None,
            failed: Some(cause),
        }
    }

    /// Runs one statement, converting its error and remembering that the transaction failed.
    fn statement<T>(
        &mut self,
        run: impl FnOnce(&mut Client) -> std::result::Result<T, postgres::Error>,
    ) -> Result<T> {
        let result = match self.client.as_deref_mut() {
            Some(client) => run(client).map_err(Error::from),
            None => Err(self.failed.clone().unwrap_or(Error::Closed)),
        };
        result.inspect_err(|e| {
            self.failed.get_or_insert_with(|| e.clone());
        })
    }

    /// Runs a statement; returns the number of rows it touched.
    fn exec(&mut self, sql: &str, params: &[Param]) -> Result<u64> {
        self.statement(|c| c.execute(sql, params))
    }

    fn rows(&mut self, sql: &str, params: &[Param]) -> Result<Vec<Row>> {
        self.statement(|c| c.query(sql, params))
    }

    fn opt_row(&mut self, sql: &str, params: &[Param]) -> Result<Option<Row>> {
        self.statement(|c| c.query_opt(sql, params))
    }

    /// The first column of a query returning exactly one row.
    fn scalar<T: FromSqlOwned>(&mut self, sql: &str, params: &[Param]) -> Result<T> {
        Ok(self.statement(|c| c.query_one(sql, params))?.try_get(0)?)
    }
}

/// The pool while the store accepts work, and how many jobs are under way.
struct State {
    pool: Option<Pool>,
    in_flight: usize,
}

struct Shared {
    state: Mutex<State>,
    idle: Condvar,
}

/// Counts a job as under way until dropped (also when the job panics).
struct InFlight(Arc<Shared>);

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Ok(mut state) = self.0.state.lock() {
            state.in_flight -= 1;
        }
        self.0.idle.notify_all();
    }
}

pub struct Postgres {
    shared: Arc<Shared>,
}

impl Postgres {
    /// Opens the database named by a `postgres://` or `postgresql://` URL (or a key=value
    /// connection string) and applies missing migrations.
    pub fn open(url: &str) -> Result<Postgres> {
        let config: postgres::Config = url
            .parse()
            .map_err(|e| Error::Open(format!("invalid PostgreSQL URL: {e}")))?;
        Postgres::open_config(config)
    }

    /// Opens the database `config` names and applies missing migrations.
    pub fn open_config(config: postgres::Config) -> Result<Postgres> {
        let migrating = config.clone();
        off_runtime(move || -> Result<()> {
            let mut client = migrating.connect(NoTls).map_err(|e| {
                Error::Open(format!("cannot connect to PostgreSQL: {}", Error::from(e)))
            })?;
            migrate(&mut client).map_err(|e| Error::Open(format!("migration failed: {e}")))
        })
        .unwrap_or_else(|| Err(Error::Open("the migration thread panicked".into())))?;
        let pool = r2d2::Pool::builder()
            .max_size(POOL_SIZE)
            .min_idle(Some(0))
            .connection_timeout(CONNECTION_TIMEOUT)
            .build_unchecked(PostgresConnectionManager::new(config, NoTls));
        Ok(Postgres {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    pool: Some(pool),
                    in_flight: 0,
                }),
                idle: Condvar::new(),
            }),
        })
    }

    /// Runs `work` with a pooled connection on a blocking thread, unless the store is closed:
    /// then `work` is dropped, which its caller reads as [`Error::Closed`].
    fn submit(&self, work: impl FnOnce(Result<&mut Client>) + Send + 'static) {
        let pool = {
            let Ok(mut state) = self.shared.state.lock() else {
                return;
            };
            let Some(pool) = state.pool.clone() else {
                return;
            };
            state.in_flight += 1;
            pool
        };
        let in_flight = InFlight(self.shared.clone());
        let task = move || {
            match pool.get() {
                Ok(mut conn) => work(Ok(&mut conn)),
                Err(e) => work(Err(Error::Unavailable(format!(
                    "no PostgreSQL connection: {e}"
                )))),
            }
            // The pool first: once the last job is done, `close` finds the connections closed.
            drop(pool);
            drop(in_flight);
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(task)),
            Err(_) => drop(std::thread::spawn(task)),
        }
    }

    /// Takes the pool away, so that no new job starts.
    fn take_pool(&self) -> Option<Pool> {
        self.shared
            .state
            .lock()
            .ok()
            .and_then(|mut s| s.pool.take())
    }
}

/// Runs `f` on a thread of its own and waits for it (`None` if it panicked): the synchronous
/// client blocks on its own runtime, which an async worker thread does not allow.
fn off_runtime<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    std::thread::spawn(f).join().ok()
}

/// Starts a transaction with `sql`; without a connection or a transaction, a [`PgTx`] whose
/// every statement fails with the cause.
fn begin<'c>(client: Result<&'c mut Client>, sql: &str) -> PgTx<'c> {
    match client {
        Ok(c) => match c.batch_execute(sql) {
            Ok(()) => PgTx::new(c),
            Err(e) => {
                let _ = c.batch_execute("ROLLBACK");
                PgTx::failed(Error::from(e))
            }
        },
        Err(cause) => PgTx::failed(cause),
    }
}

/// Runs a write job in its own transaction and replies once the commit is durable. Without a
/// connection (or a transaction) the job still runs, its statements failing with the cause, so
/// that its caller learns why.
fn run_write(client: Result<&mut Client>, job: WriteJob) {
    let mut tx = begin(client, "BEGIN; SET LOCAL synchronous_commit = on");
    let outcome = catch_unwind(AssertUnwindSafe(|| job(&mut tx)));
    let failed = tx.failed.take();
    let end = |tx: &mut PgTx, sql: &str| tx.client.as_deref_mut().map(|c| c.batch_execute(sql));
    match outcome {
        Ok(out) if out.keep => {
            let result = match failed {
                Some(e) => Err(e),
                None => match end(&mut tx, "COMMIT") {
                    Some(done) => done.map_err(Error::from),
                    None => Err(Error::Closed),
                },
            };
            if result.is_err() {
                let _ = end(&mut tx, "ROLLBACK");
            }
            (out.reply)(result.err());
        }
        Ok(out) => {
            let _ = end(&mut tx, "ROLLBACK");
            (out.reply)(None);
        }
        Err(_) => {
            tracing::error!("a write job panicked; its changes were rolled back");
            let _ = end(&mut tx, "ROLLBACK");
        }
    }
}

/// Runs a read job on a read-only snapshot (repeatable read: all its queries see the same
/// moment).
fn run_read(client: Result<&mut Client>, job: ReadJob) {
    let mut tx = begin(client, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    if catch_unwind(AssertUnwindSafe(|| job(&mut tx))).is_err() {
        tracing::error!("a read job panicked");
    }
    if let Some(c) = tx.client.as_deref_mut() {
        let _ = c.batch_execute("ROLLBACK");
    }
}

impl Backend for Postgres {
    fn submit_write(&self, job: WriteJob) {
        self.submit(move |client| run_write(client, job));
    }

    fn submit_read(&self, job: ReadJob) {
        self.submit(move |client| run_read(client, job));
    }

    fn close(&self) {
        let pool = self.take_pool();
        let deadline = Instant::now() + CLOSE_PATIENCE;
        if let Ok(mut state) = self.shared.state.lock() {
            while state.in_flight > 0 {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    tracing::warn!("closing with {} jobs still running", state.in_flight);
                    break;
                }
                match self.shared.idle.wait_timeout(state, left) {
                    Ok((s, _)) => state = s,
                    Err(_) => return,
                }
            }
        }
        if let Some(pool) = pool {
            off_runtime(move || drop(pool));
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(pool) = self.take_pool() {
            off_runtime(move || drop(pool));
        }
    }
}

/// Applies missing migrations, all in one transaction holding an advisory lock.
fn migrate(client: &mut Client) -> Result<()> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )?;
    for (version, sql) in MIGRATIONS {
        let done: bool = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)",
                &[version],
            )?
            .try_get(0)?;
        if !done {
            tx.batch_execute(sql)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) \
                 VALUES ($1, (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT)",
                &[version],
            )?;
        }
    }
    tx.commit()?;
    Ok(())
}

impl crate::rows::Columns for postgres::Row {
    fn text(&self, i: usize) -> Result<String> {
        Ok(self.try_get(i)?)
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>> {
        Ok(self.try_get(i)?)
    }
    fn int(&self, i: usize) -> Result<i64> {
        Ok(self.try_get(i)?)
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        Ok(self.try_get(i)?)
    }
    fn flag(&self, i: usize) -> Result<bool> {
        Ok(self.try_get(i)?)
    }
}
