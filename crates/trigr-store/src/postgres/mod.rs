//! The PostgreSQL backend, for several servers sharing one database.
//!
//! Every job runs in its own transaction on a pooled connection (r2d2), on a blocking thread:
//! `BEGIN` … `COMMIT` for writes, with `synchronous_commit = on` (a write is acknowledged only
//! once durable), and a read-only repeatable-read snapshot for reads. Writes run at READ
//! COMMITTED and lock every run and batch they read (`FOR UPDATE`; dequeue and timer scans
//! `SKIP LOCKED`), so compare-and-set updates and read-modify-writes never lose a concurrent
//! change. A write that loses a race on a unique index, or a deadlock, fails with
//! [`Error::Conflict`]; an unreachable database with [`Error::Unavailable`].
//!
//! Each connection keeps its prepared statements. A connection found dead when its
//! transaction begins is replaced before the job runs, so a database restart costs no
//! request. Migrations are applied at open under a transaction-level advisory lock, so servers
//! starting together apply each one exactly once. Servers wake each other's long-polling
//! workers through `LISTEN`/`NOTIFY` ([`wakeups`]).
//!
//! Settings ride on the database URL as extra query parameters, removed before connecting:
//! `pool_size` (connections per server, default 16), `pool_timeout_ms` (how long a job waits
//! for a connection, default 10 000), `statement_timeout_ms` (per statement, including lock
//! waits, default 30 000).
//!
//! The synchronous `postgres` client drives its own small runtime, so connections are opened,
//! used and closed on blocking threads only, never on an async worker.

mod any_text;
mod events;
mod filtered;
mod journal;
mod output_streams;
mod queues;
mod retention;
mod runs;
mod waitpoints;
pub mod wakeups;

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use postgres::error::SqlState;
use postgres::types::{FromSqlOwned, ToSql};
use postgres::{Client, NoTls, Row, Statement};

use crate::observe::{Commit, CommitObserver};
use crate::sql::{Db, Failure, Spelling, Sql, Value};
use crate::{Backend, Error, Lane, ReadJob, Result, WriteJob};

const _: () = assert!(MIGRATIONS[MIGRATIONS.len() - 1].0 == crate::SCHEMA_VERSION);

/// Versioned migrations, applied in order at open; numbered like the SQLite ones.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/postgres/0001_init.sql")),
    (
        2,
        include_str!("../../migrations/postgres/0002_derived_counts.sql"),
    ),
    (
        3,
        include_str!("../../migrations/postgres/0003_durable.sql"),
    ),
    (
        4,
        include_str!("../../migrations/postgres/0004_content_hash.sql"),
    ),
    (
        5,
        include_str!("../../migrations/postgres/0005_input_streams.sql"),
    ),
    (
        6,
        include_str!("../../migrations/postgres/0006_schedules.sql"),
    ),
    (
        7,
        include_str!("../../migrations/postgres/0007_run_events.sql"),
    ),
    (
        8,
        include_str!("../../migrations/postgres/0008_output_streams.sql"),
    ),
    (
        9,
        include_str!("../../migrations/postgres/0009_lean_run_events.sql"),
    ),
    (
        10,
        include_str!("../../migrations/postgres/0010_schedule_window.sql"),
    ),
    (
        11,
        include_str!("../../migrations/postgres/0011_priority_ms.sql"),
    ),
    (12, include_str!("../../migrations/postgres/0012_keys.sql")),
    (
        13,
        include_str!("../../migrations/postgres/0013_attempts.sql"),
    ),
    (
        14,
        include_str!("../../migrations/postgres/0014_parked_runs.sql"),
    ),
    (
        15,
        include_str!("../../migrations/postgres/0015_retention.sql"),
    ),
    (
        16,
        include_str!("../../migrations/postgres/0016_dashboard.sql"),
    ),
    (
        17,
        include_str!("../../migrations/postgres/0017_run_search.sql"),
    ),
    (
        18,
        include_str!("../../migrations/postgres/0018_run_spans.sql"),
    ),
    (
        19,
        include_str!("../../migrations/postgres/0019_worker_instances.sql"),
    ),
    (
        20,
        include_str!("../../migrations/postgres/0020_debounce.sql"),
    ),
    (
        21,
        include_str!("../../migrations/postgres/0021_regions.sql"),
    ),
    (
        22,
        include_str!("../../migrations/postgres/0022_mollifier.sql"),
    ),
    (
        23,
        include_str!("../../migrations/postgres/0023_mollifier_counts.sql"),
    ),
    (
        24,
        include_str!("../../migrations/postgres/0024_env_kv.sql"),
    ),
    (
        25,
        include_str!("../../migrations/postgres/0025_queue_api.sql"),
    ),
    (
        26,
        include_str!("../../migrations/postgres/0026_env_vars.sql"),
    ),
    (
        27,
        include_str!("../../migrations/postgres/0027_ai_tools.sql"),
    ),
    (
        28,
        include_str!("../../migrations/postgres/0028_schedule_fields.sql"),
    ),
    (
        29,
        include_str!("../../migrations/postgres/0029_personal_access_tokens.sql"),
    ),
    (
        30,
        include_str!("../../migrations/postgres/0030_run_snapshots.sql"),
    ),
    (
        31,
        include_str!("../../migrations/postgres/0031_ready_order.sql"),
    ),
];

/// Key of the advisory lock held while migrating.
const MIGRATION_LOCK: i64 = 0x7472_6967_725f_6d69; // "trigr_mi"

/// How long `close` waits for jobs already started.
const CLOSE_PATIENCE: Duration = Duration::from_secs(60);
/// Prepared statements kept per connection; past this the cache starts over.
const STATEMENT_CACHE: usize = 512;
/// How long a job waits for a connection while the database is known to be down.
const DOWN_WAIT: Duration = Duration::from_millis(300);

type Pool = r2d2::Pool<Manager>;
type Param<'a> = &'a (dyn ToSql + Sync);

/// Connection pool and statement settings, read from the database URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub pool_size: u32,
    pub pool_timeout: Duration,
    pub statement_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            pool_size: 16,
            pool_timeout: Duration::from_secs(10),
            statement_timeout: Duration::from_secs(30),
        }
    }
}

impl Settings {
    /// Takes trigr's own query parameters off `url`; returns them and the URL left for the
    /// PostgreSQL client.
    pub fn from_url(url: &str) -> Result<(Settings, String)> {
        let mut settings = Settings::default();
        let Some((base, query)) = url.split_once('?') else {
            return Ok((settings, url.to_string()));
        };
        let mut rest = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let number = || -> Result<u64> {
                value
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n > 0 && *n <= 86_400_000)
                    .ok_or_else(|| {
                        Error::Open(format!(
                            "invalid PostgreSQL URL: {key} must be a whole number from 1 to 86400000, got '{value}'"
                        ))
                    })
            };
            match key {
                "pool_size" => {
                    settings.pool_size = u32::try_from(number()?.min(1000)).unwrap_or(1000)
                }
                "pool_timeout_ms" => settings.pool_timeout = Duration::from_millis(number()?),
                "statement_timeout_ms" => {
                    settings.statement_timeout = Duration::from_millis(number()?)
                }
                _ => rest.push(pair),
            }
        }
        let url = if rest.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", rest.join("&"))
        };
        Ok((settings, url))
    }
}

/// A pooled connection and its prepared statements.
pub struct Conn {
    client: Client,
    statements: HashMap<String, Statement>,
}

impl Conn {
    fn prepared(&mut self, sql: &str) -> std::result::Result<Statement, postgres::Error> {
        if let Some(st) = self.statements.get(sql) {
            return Ok(st.clone());
        }
        let st = self.client.prepare(sql)?;
        if self.statements.len() >= STATEMENT_CACHE {
            self.statements.clear();
        }
        self.statements.insert(sql.to_string(), st.clone());
        Ok(st)
    }
}

/// Opens connections for the pool, each with the session settings.
pub struct Manager {
    config: postgres::Config,
    session: String,
}

impl r2d2::ManageConnection for Manager {
    type Connection = Conn;
    type Error = postgres::Error;

    fn connect(&self) -> std::result::Result<Conn, postgres::Error> {
        let mut client = self.config.connect(NoTls)?;
        client.batch_execute(&self.session)?;
        Ok(Conn {
            client,
            statements: HashMap::new(),
        })
    }

    fn is_valid(&self, conn: &mut Conn) -> std::result::Result<(), postgres::Error> {
        conn.client.batch_execute("")
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        conn.client.is_closed()
    }
}

/// A transaction (or read snapshot) on one connection.
pub struct PgTx<'c> {
    /// `None` when no connection could be had: then every statement fails with `failed`.
    conn: Option<&'c mut Conn>,
    /// The first statement that failed: PostgreSQL then refuses the rest of the transaction
    /// (and would answer `COMMIT` with a rollback), so such a transaction is never kept.
    failed: Option<Error>,
    /// A write transaction: runs and batches read are locked (see [`crate::tx`]).
    writing: bool,
    /// Run events recorded in this transaction, written right before it commits.
    events: Vec<crate::events::RunEvent>,
}

impl From<postgres::Error> for Error {
    fn from(e: postgres::Error) -> Self {
        if let Some(db) = e.as_db_error() {
            let code = db.code();
            // 57P: the server is shutting down or restarting; 08: the connection failed.
            let class = &code.code()[..2.min(code.code().len())];
            let failure = if *code == SqlState::UNIQUE_VIOLATION {
                Failure::UniqueViolation
            } else if *code == SqlState::T_R_SERIALIZATION_FAILURE
                || *code == SqlState::T_R_DEADLOCK_DETECTED
            {
                Failure::Aborted
            } else if class == "08" || code.code().starts_with("57P") {
                Failure::Unreachable
            } else {
                Failure::Other
            };
            return failure.error(db.to_string());
        }
        let source = std::error::Error::source(&e);
        let message = match source {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        };
        let failure = if e.is_closed() || source.is_some_and(|s| s.is::<std::io::Error>()) {
            Failure::Unreachable
        } else {
            Failure::Other
        };
        failure.error(message)
    }
}

impl<'c> PgTx<'c> {
    /// A transaction that could not start: every statement in it fails with `cause`.
    fn failed(cause: Error) -> PgTx<'c> {
        PgTx {
            conn: None,
            failed: Some(cause),
            writing: false,
            events: Vec::new(),
        }
    }

    /// How this transaction reads shared statements: with their locks in a write.
    fn spelling(&self) -> Spelling {
        if self.writing {
            Spelling::PostgresWrite
        } else {
            Spelling::PostgresRead
        }
    }

    /// `FOR UPDATE` in a write transaction: the rows read stay locked until it ends.
    fn lock(&self) -> &'static str {
        if self.writing {
            " FOR UPDATE"
        } else {
            ""
        }
    }

    /// Runs one prepared statement, converting its error and remembering that the transaction
    /// failed.
    fn statement<T>(
        &mut self,
        sql: &str,
        run: impl FnOnce(&mut Client, &Statement) -> std::result::Result<T, postgres::Error>,
    ) -> Result<T> {
        self.on_connection(|conn| conn.prepared(sql).and_then(|st| run(&mut conn.client, &st)))
    }

    /// Runs `work` on the connection, converting its error and remembering that the
    /// transaction failed.
    fn on_connection<T>(
        &mut self,
        work: impl FnOnce(&mut Conn) -> std::result::Result<T, postgres::Error>,
    ) -> Result<T> {
        let result = match self.conn.as_deref_mut() {
            Some(conn) => work(conn).map_err(Error::from),
            None => Err(self.failed.clone().unwrap_or(Error::Closed)),
        };
        result.inspect_err(|e| {
            self.failed.get_or_insert_with(|| e.clone());
        })
    }

    /// Runs a statement; returns the number of rows it touched.
    fn exec(&mut self, sql: &str, params: &[Param]) -> Result<u64> {
        self.statement(sql, |c, st| c.execute(st, params))
    }

    fn rows(&mut self, sql: &str, params: &[Param]) -> Result<Vec<Row>> {
        self.statement(sql, |c, st| c.query(st, params))
    }

    /// [`PgTx::rows`] planned for these very parameters, not prepared once for the
    /// connection: for a statement over a list of ids, whose prepared (generic) plan is fixed
    /// after a few runs by the table's size then. Planned on a fresh table, such a plan scans
    /// the whole environment for each id ever after (until the table is analyzed); planned
    /// now, it looks each id up in its index. It costs a round trip more, once per list.
    fn rows_planned_now(&mut self, sql: &str, params: &[Param]) -> Result<Vec<Row>> {
        self.on_connection(|conn| conn.client.query(sql, params))
    }

    fn opt_row(&mut self, sql: &str, params: &[Param]) -> Result<Option<Row>> {
        self.statement(sql, |c, st| c.query_opt(st, params))
    }

    /// The first column of a query returning exactly one row.
    fn scalar<T: FromSqlOwned>(&mut self, sql: &str, params: &[Param]) -> Result<T> {
        Ok(self
            .statement(sql, |c, st| c.query_one(st, params))?
            .try_get(0)?)
    }

    /// Ends the transaction with `sql` (`COMMIT` or `ROLLBACK`); `None` without a connection.
    fn end(&mut self, sql: &str) -> Option<std::result::Result<(), postgres::Error>> {
        self.conn
            .as_deref_mut()
            .map(|c| c.client.batch_execute(sql))
    }
}

/// The pool while the store accepts work, and how many jobs are under way.
struct State {
    pool: Option<Pool>,
    in_flight: usize,
}

struct Shared {
    state: Mutex<State>,
    /// Connections bulk writes may hold at once ([`Lane::Bulk`]).
    bulk: BulkSlots,
    idle: Condvar,
    /// The last attempt to get a connection failed.
    down: AtomicBool,
    /// Told of every write transaction that commits.
    observer: Option<Arc<dyn CommitObserver>>,
}

/// The connections bulk writes may hold at once: a quarter of the pool (at least one), so
/// that the live writes always find most of it free.
struct BulkSlots {
    free: Mutex<u32>,
    freed: Condvar,
}

/// A bulk write's slot, given back when dropped.
struct BulkSlot<'a>(&'a BulkSlots);

impl BulkSlots {
    fn new(pool_size: u32) -> Self {
        BulkSlots {
            free: Mutex::new((pool_size / 4).max(1)),
            freed: Condvar::new(),
        }
    }

    /// Waits for a free slot (on the job's blocking thread).
    fn take(&self) -> BulkSlot<'_> {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(|e| e.into_inner());
        }
        *free -= 1;
        BulkSlot(self)
    }
}

impl Drop for BulkSlot<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.0.freed.notify_one();
    }
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
    wakeups: wakeups::Wakeups,
}

impl Postgres {
    /// Opens the database named by a `postgres://` or `postgresql://` URL (or a key=value
    /// connection string) and applies missing migrations.
    pub fn open(url: &str) -> Result<Postgres> {
        Postgres::open_observed(url, None)
    }

    /// [`Postgres::open`], telling `observer` of every write transaction that commits.
    pub fn open_observed(url: &str, observer: Option<Arc<dyn CommitObserver>>) -> Result<Postgres> {
        let (settings, url) = Settings::from_url(url)?;
        let config: postgres::Config = url
            .parse()
            .map_err(|e| Error::Open(format!("invalid PostgreSQL URL: {e}")))?;
        let mut backend = Postgres::open_config(config, settings)?;
        if let Some(shared) = Arc::get_mut(&mut backend.shared) {
            shared.observer = observer;
        }
        Ok(backend)
    }

    /// Opens the database `config` names and applies missing migrations.
    pub fn open_config(config: postgres::Config, settings: Settings) -> Result<Postgres> {
        let migrating = config.clone();
        off_runtime(move || -> Result<()> {
            let mut client = migrating.connect(NoTls).map_err(|e| {
                Error::Open(format!("cannot connect to PostgreSQL: {}", Error::from(e)))
            })?;
            migrate(&mut client).map_err(|e| Error::Open(format!("migration failed: {e}")))
        })
        .unwrap_or_else(|| Err(Error::Open("the migration thread panicked".into())))?;
        let timeout_ms = settings.statement_timeout.as_millis();
        let manager = Manager {
            config: config.clone(),
            session: format!(
                "SET statement_timeout = {timeout_ms}; SET lock_timeout = {timeout_ms}; \
                 SET idle_in_transaction_session_timeout = {}",
                timeout_ms.saturating_mul(2)
            ),
        };
        let pool = r2d2::Pool::builder()
            .max_size(settings.pool_size)
            .min_idle(Some(0))
            .test_on_check_out(false)
            .connection_timeout(settings.pool_timeout)
            .build_unchecked(manager);
        Ok(Postgres {
            wakeups: wakeups::Wakeups::start(config),
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    pool: Some(pool),
                    in_flight: 0,
                }),
                idle: Condvar::new(),
                bulk: BulkSlots::new(settings.pool_size),
                down: AtomicBool::new(false),
                observer: None,
            }),
        })
    }

    /// Runs `work` with a pooled connection on a blocking thread, unless the store is closed:
    /// then `work` is dropped, which its caller reads as [`Error::Closed`].
    fn submit(
        &self,
        begin_sql: &'static str,
        lane: Lane,
        work: impl FnOnce(PgTx) + Send + 'static,
    ) {
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
            let shared = &in_flight.0;
            let slot = (lane == Lane::Bulk).then(|| shared.bulk.take());
            let down = &shared.down;
            match begin(&pool, begin_sql, down) {
                Ok(mut conn) => {
                    work(PgTx {
                        conn: Some(&mut *conn),
                        failed: None,
                        writing: begin_sql == BEGIN_WRITE,
                        events: Vec::new(),
                    });
                    if conn.client.is_closed() {
                        // Lost mid-job: the database may be going away.
                        down.store(true, Ordering::Relaxed);
                    }
                }
                Err(cause) => work(PgTx::failed(cause)),
            }
            drop(slot);
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

const BEGIN_WRITE: &str = "BEGIN; SET LOCAL synchronous_commit = on";
const BEGIN_READ: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";

/// A pooled connection with a transaction begun by `sql`. A connection that turns out dead
/// (the database restarted since it was opened) is dropped and another one tried, before
/// any job has run on it.
///
/// While the database is known to be down, a job waits for a connection only briefly, so
/// that callers get their 503 at once instead of after the full pool timeout.
fn begin(pool: &Pool, sql: &str, down: &AtomicBool) -> Result<r2d2::PooledConnection<Manager>> {
    let mut last = None;
    // Every pooled connection may be dead after a restart: try them all, and one new.
    for _ in 0..=pool.max_size() {
        let got = if down.load(Ordering::Relaxed) {
            pool.get_timeout(DOWN_WAIT)
        } else {
            pool.get()
        };
        let mut conn = got.map_err(|e| {
            down.store(true, Ordering::Relaxed);
            Error::Unavailable(format!("no PostgreSQL connection: {e}"))
        })?;
        if conn.client.is_closed() {
            down.store(true, Ordering::Relaxed);
            continue;
        }
        match conn.client.batch_execute(sql) {
            Ok(()) => {
                down.store(false, Ordering::Relaxed);
                return Ok(conn);
            }
            Err(e) => {
                let e = Error::from(e);
                if matches!(e, Error::Unavailable(_)) {
                    down.store(true, Ordering::Relaxed);
                }
                if !conn.client.is_closed() {
                    let _ = conn.client.batch_execute("ROLLBACK");
                    return Err(e);
                }
                last = Some(e);
            }
        }
    }
    Err(last.unwrap_or(Error::Closed))
}

/// Runs a write job in its own transaction and replies once the commit is durable. Without a
/// connection (or a transaction) the job still runs, its statements failing with the cause, so
/// that its caller learns why. A commit is told to `observer` before the reply.
fn run_write(mut tx: PgTx, job: WriteJob, observer: Option<&dyn CommitObserver>) {
    let started = Instant::now();
    let outcome = catch_unwind(AssertUnwindSafe(|| job(&mut tx)));
    let failed = tx.failed.take();
    match outcome {
        Ok(out) if out.keep => {
            let failed = match failed {
                None => tx.flush_run_events().err(),
                some => some,
            };
            let result = match failed {
                Some(e) => Err(e),
                None => match tx.end("COMMIT") {
                    Some(done) => done.map_err(Error::from),
                    None => Err(Error::Closed),
                },
            };
            match (&result, observer) {
                (Err(_), _) => {
                    let _ = tx.end("ROLLBACK");
                }
                (Ok(()), Some(observer)) => observer.committed(Commit {
                    writes: 1,
                    duration: started.elapsed(),
                }),
                (Ok(()), None) => {}
            }
            (out.reply)(result.err());
        }
        Ok(out) => {
            let _ = tx.end("ROLLBACK");
            (out.reply)(None);
        }
        Err(_) => {
            tracing::error!("a write job panicked; its changes were rolled back");
            let _ = tx.end("ROLLBACK");
        }
    }
}

/// Runs a read job on a read-only snapshot (repeatable read: all its queries see the same
/// moment).
fn run_read(mut tx: PgTx, job: ReadJob) {
    if catch_unwind(AssertUnwindSafe(|| job(&mut tx))).is_err() {
        tracing::error!("a read job panicked");
    }
    let _ = tx.end("ROLLBACK");
}

impl Backend for Postgres {
    fn sequences_events_later(&self) -> bool {
        true
    }

    fn is_shared(&self) -> bool {
        true
    }

    fn submit_write(&self, job: WriteJob, lane: Lane) {
        let observer = self.shared.observer.clone();
        self.submit(BEGIN_WRITE, lane, move |tx| {
            run_write(tx, job, observer.as_deref())
        });
    }

    fn submit_read(&self, job: ReadJob) {
        self.submit(BEGIN_READ, Lane::Live, move |tx| run_read(tx, job));
    }

    fn publish_wakes(&self, env_ids: &[String]) {
        self.wakeups.publish(env_ids);
    }

    fn subscribe_wakes(&self, listener: crate::WakeListener) {
        self.wakeups.subscribe(listener);
    }

    fn close(&self) {
        self.wakeups.stop();
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
        self.wakeups.stop();
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
    let newest: i64 = tx
        .query_one(
            crate::sql::NEWEST_MIGRATION.text(Spelling::PostgresRead),
            &[],
        )?
        .try_get(0)?;
    crate::sql::check_schema_version(newest)?;
    for (version, sql) in MIGRATIONS {
        let done: bool = tx
            .query_one(
                crate::sql::MIGRATED.text(Spelling::PostgresRead),
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
    fn opt_any_text(&self, i: usize) -> Result<Option<String>> {
        Ok(self.try_get::<_, Option<String>>(i)?.map(any_text::decode))
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
    fn bytes(&self, i: usize) -> Result<Vec<u8>> {
        Ok(self.try_get(i)?)
    }
}

/// Parameters passed on the stack up to this many (a run insert has 46).
const INLINE_PARAMS: usize = 48;

/// Calls `f` with each parameter as PostgreSQL writes it.
fn with_params<R>(params: &[&dyn Value], f: impl FnOnce(&[Param]) -> R) -> R {
    if params.len() > INLINE_PARAMS {
        let all: Vec<Param> = params.iter().map(|p| p.postgres()).collect();
        return f(&all);
    }
    let mut inline: [Param; INLINE_PARAMS] = [&None::<i64>; INLINE_PARAMS];
    for (slot, p) in inline.iter_mut().zip(params) {
        *slot = p.postgres();
    }
    f(&inline[..params.len()])
}

impl Db for PgTx<'_> {
    type Row<'r> = Row;
    const TEXT_KEEPS_NUL: bool = false;

    fn execute(&mut self, sql: &'static Sql, params: &[&dyn Value]) -> Result<u64> {
        let text = sql.text(self.spelling());
        with_params(params, |p| self.exec(text, p))
    }

    fn query<T>(
        &mut self,
        sql: &'static Sql,
        params: &[&dyn Value],
        read: impl FnMut(&Row) -> Result<T>,
    ) -> Result<Vec<T>> {
        let text = sql.text(self.spelling());
        with_params(params, |p| self.rows(text, p))?
            .iter()
            .map(read)
            .collect()
    }

    fn insert_seq(&mut self, sql: &'static Sql, params: &[&dyn Value]) -> Result<i64> {
        let text = sql.text(self.spelling());
        with_params(params, |p| self.scalar(text, p))
    }

    fn query_first<T>(
        &mut self,
        sql: &'static Sql,
        params: &[&dyn Value],
        read: impl FnOnce(&Row) -> Result<T>,
    ) -> Result<Option<T>> {
        let text = sql.text(self.spelling());
        with_params(params, |p| self.opt_row(text, p))?
            .as_ref()
            .map(read)
            .transpose()
    }

    fn any_text(text: &str) -> std::borrow::Cow<'_, str> {
        any_text::encode(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_come_off_the_url() {
        let (s, url) = Settings::from_url(
            "postgres://u@h/db?pool_size=4&sslmode=disable&statement_timeout_ms=1500&pool_timeout_ms=200",
        )
        .unwrap();
        assert_eq!(
            s,
            Settings {
                pool_size: 4,
                pool_timeout: Duration::from_millis(200),
                statement_timeout: Duration::from_millis(1500),
            }
        );
        assert_eq!(url, "postgres://u@h/db?sslmode=disable");
        let (s, url) = Settings::from_url("postgres://u@h/db").unwrap();
        assert_eq!(
            (s, url.as_str()),
            (Settings::default(), "postgres://u@h/db")
        );
        let (_, url) = Settings::from_url("postgres://u@h/db?pool_size=2").unwrap();
        assert_eq!(url, "postgres://u@h/db");
    }

    #[test]
    fn bad_settings_are_named() {
        for bad in [
            "pool_size=0",
            "pool_size=x",
            "statement_timeout_ms=",
            "pool_timeout_ms=-1",
        ] {
            let e = Settings::from_url(&format!("postgres://h/db?{bad}")).unwrap_err();
            let key = bad.split('=').next().unwrap();
            assert!(e.to_string().contains(key), "{bad}: {e}");
        }
    }
}
