//! The embedded SQLite backend: WAL, `synchronous=FULL`, one writer thread that group-commits,
//! and a small pool of read-only connections.

pub mod backup;
mod events;
mod journal;
mod output_streams;
mod queues;
mod retention;
mod runs;
mod waitpoints;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use rusqlite::{Connection, OpenFlags};

use crate::observe::{Commit, CommitObserver};
use crate::rows::to_json;
use crate::sql::{Db, Failure, Spelling, Sql, Value};
use crate::{Backend, Error, Lane, ReadJob, Result, WriteJob};

const _: () = assert!(MIGRATIONS[MIGRATIONS.len() - 1].0 == crate::SCHEMA_VERSION);

/// Versioned migrations, applied in order at open. The PostgreSQL backend numbers its own the same.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/sqlite/0001_init.sql")),
    (
        2,
        include_str!("../../migrations/sqlite/0002_derived_counts.sql"),
    ),
    (3, include_str!("../../migrations/sqlite/0003_durable.sql")),
    (
        4,
        include_str!("../../migrations/sqlite/0004_content_hash.sql"),
    ),
    (
        5,
        include_str!("../../migrations/sqlite/0005_input_streams.sql"),
    ),
    (
        6,
        include_str!("../../migrations/sqlite/0006_schedules.sql"),
    ),
    (
        7,
        include_str!("../../migrations/sqlite/0007_run_events.sql"),
    ),
    (
        8,
        include_str!("../../migrations/sqlite/0008_output_streams.sql"),
    ),
    (
        9,
        include_str!("../../migrations/sqlite/0009_lean_run_events.sql"),
    ),
    (
        10,
        include_str!("../../migrations/sqlite/0010_schedule_window.sql"),
    ),
    (
        11,
        include_str!("../../migrations/sqlite/0011_priority_ms.sql"),
    ),
    (12, include_str!("../../migrations/sqlite/0012_keys.sql")),
    (
        13,
        include_str!("../../migrations/sqlite/0013_attempts.sql"),
    ),
    (
        14,
        include_str!("../../migrations/sqlite/0014_parked_runs.sql"),
    ),
    (
        15,
        include_str!("../../migrations/sqlite/0015_retention.sql"),
    ),
    (
        16,
        include_str!("../../migrations/sqlite/0016_dashboard.sql"),
    ),
    (
        17,
        include_str!("../../migrations/sqlite/0017_run_search.sql"),
    ),
    (
        18,
        include_str!("../../migrations/sqlite/0018_run_spans.sql"),
    ),
    (
        19,
        include_str!("../../migrations/sqlite/0019_worker_instances.sql"),
    ),
    (
        20,
        include_str!("../../migrations/sqlite/0020_debounce.sql"),
    ),
    (21, include_str!("../../migrations/sqlite/0021_regions.sql")),
    (
        22,
        include_str!("../../migrations/sqlite/0022_mollifier.sql"),
    ),
    (
        23,
        include_str!("../../migrations/sqlite/0023_mollifier_counts.sql"),
    ),
    (24, include_str!("../../migrations/sqlite/0024_env_kv.sql")),
    (
        25,
        include_str!("../../migrations/sqlite/0025_queue_api.sql"),
    ),
    (
        26,
        include_str!("../../migrations/sqlite/0026_env_vars.sql"),
    ),
    (
        27,
        include_str!("../../migrations/sqlite/0027_ai_tools.sql"),
    ),
    (
        28,
        include_str!("../../migrations/sqlite/0028_schedule_fields.sql"),
    ),
    (
        29,
        include_str!("../../migrations/sqlite/0029_personal_access_tokens.sql"),
    ),
    (
        30,
        include_str!("../../migrations/sqlite/0030_run_snapshots.sql"),
    ),
    (
        31,
        include_str!("../../migrations/sqlite/0031_ready_order.sql"),
    ),
];

/// Prepared statements kept per connection: room for every shared statement (see
/// [`crate::sql`]) and the list queries built per filter.
const STATEMENT_CACHE: usize = 256;
/// Most live write jobs committed together.
const MAX_GROUP: usize = 1024;
const READERS: usize = 4;

/// A transaction (or read snapshot) on one connection.
pub struct SqliteTx<'c> {
    conn: &'c Connection,
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ffi::{SQLITE_CONSTRAINT_PRIMARYKEY, SQLITE_CONSTRAINT_UNIQUE};
        let failure = match &e {
            rusqlite::Error::SqliteFailure(f, _)
                if f.extended_code == SQLITE_CONSTRAINT_UNIQUE
                    || f.extended_code == SQLITE_CONSTRAINT_PRIMARYKEY =>
            {
                Failure::UniqueViolation
            }
            _ => Failure::Other,
        };
        failure.error(e.to_string())
    }
}

pub struct Sqlite {
    path: PathBuf,
    writer: Mutex<Option<mpsc::Sender<(Lane, WriteJob)>>>,
    writer_thread: Mutex<Option<JoinHandle<()>>>,
    checkpointer: Mutex<Option<(mpsc::Sender<()>, JoinHandle<()>)>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    /// Held shared while the store is open: `trigr restore` needs it alone.
    _lock: std::fs::File,
}

impl Sqlite {
    pub fn open(path: &Path) -> Result<Sqlite> {
        Sqlite::open_observed(path, None)
    }

    /// [`Sqlite::open`], telling `observer` of every group commit.
    pub fn open_observed(path: &Path, observer: Option<Arc<dyn CommitObserver>>) -> Result<Sqlite> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::Open(format!("cannot create {}: {e}", dir.display())))?;
        }
        let lock = backup::lock(path, backup::Lock::Shared)?;
        let conn = open_writer(path)?;
        // Checkpoints run on their own thread so that commits never wait for them.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        let checkpointer = start_checkpointer(path)?;
        let (tx, rx) = mpsc::channel::<(Lane, WriteJob)>();
        let handle = std::thread::Builder::new()
            .name("trigr-sqlite-writer".into())
            .spawn(move || writer_loop(conn, rx, observer))
            .map_err(|e| Error::Open(e.to_string()))?;
        Ok(Sqlite {
            path: path.to_path_buf(),
            writer: Mutex::new(Some(tx)),
            writer_thread: Mutex::new(Some(handle)),
            checkpointer: Mutex::new(Some(checkpointer)),
            readers: Arc::new(Mutex::new(Vec::new())),
            _lock: lock,
        })
    }

    fn reader(&self) -> Result<Connection> {
        if let Some(c) = self.readers.lock().map_err(|_| Error::Closed)?.pop() {
            return Ok(c);
        }
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(conn)
    }
}

/// Opens, configures and migrates the writer connection. Another process opening a new file at
/// the same moment can make SQLite answer "busy" without waiting (switching to WAL needs the
/// file to itself), so that case is retried for a few seconds.
fn open_writer(path: &Path) -> Result<Connection> {
    let started = std::time::Instant::now();
    loop {
        let attempt = Connection::open(path)
            .map_err(Error::from)
            .and_then(|mut conn| {
                configure(&conn)?;
                migrate(&mut conn)?;
                Ok(conn)
            });
        match attempt {
            Err(Error::Database(m)) if m.contains("locked") && started.elapsed().as_secs() < 10 => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => return Err(Error::Open(format!("cannot open {}: {e}", path.display()))),
            Ok(conn) => return Ok(conn),
        }
    }
}

fn configure(conn: &Connection) -> Result<()> {
    // First, so that switching to WAL waits for another process opening the same file.
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    // Every write job runs in a savepoint, whose journal (the pages as they were before the
    // job) is needed only to roll the job back inside its transaction, never after a crash:
    // kept in memory, a large job's journal is not spilled to a temporary file created,
    // written and deleted in every transaction.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}

/// Applies missing migrations. Each one is checked and applied inside one IMMEDIATE
/// transaction, so several processes opening a new file at once apply it exactly once.
fn migrate(conn: &mut Connection) -> Result<()> {
    use rusqlite::TransactionBehavior::Immediate;
    for (version, sql) in MIGRATIONS {
        let tx = conn.transaction_with_behavior(Immediate)?;
        tx.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
        )?;
        let newest: i64 = tx.query_row(
            crate::sql::NEWEST_MIGRATION.text(Spelling::Sqlite),
            [],
            |r| r.get(0),
        )?;
        crate::sql::check_schema_version(newest)?;
        let done: bool = tx.query_row(
            crate::sql::MIGRATED.text(Spelling::Sqlite),
            [version],
            |r| r.get(0),
        )?;
        if !done {
            tx.execute_batch(sql)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, strftime('%s','now') * 1000)",
                [version],
            )?;
        }
        tx.commit()?;
    }
    Ok(())
}

/// How often the WAL is copied back into the database file.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

/// A thread that checkpoints the WAL (PASSIVE: it never blocks the writer or readers) until
/// told to stop, then once more with TRUNCATE.
fn start_checkpointer(path: &Path) -> Result<(mpsc::Sender<()>, JoinHandle<()>)> {
    let conn = Connection::open(path)?;
    configure(&conn)?;
    let (stop, stopped) = mpsc::channel::<()>();
    let handle = std::thread::Builder::new()
        .name("trigr-sqlite-checkpoint".into())
        .spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECKPOINT_EVERY)
            {
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::warn!("checkpoint failed: {e}");
                }
            }
            let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        })
        .map_err(|e| Error::Open(e.to_string()))?;
    Ok((stop, handle))
}

fn writer_loop(
    conn: Connection,
    rx: mpsc::Receiver<(Lane, WriteJob)>,
    observer: Option<Arc<dyn CommitObserver>>,
) {
    let mut queue = Queue::default();
    loop {
        if queue.live.is_empty() && queue.bulk.is_empty() {
            match rx.recv() {
                Ok((lane, job)) => queue.push(lane, job),
                Err(_) => return,
            }
        }
        queue.take_waiting(&rx);
        commit_group(&conn, &mut queue, &rx, observer.as_deref());
    }
}

/// The write jobs the writer holds, by lane.
#[derive(Default)]
struct Queue {
    live: Vec<WriteJob>,
    bulk: VecDeque<WriteJob>,
    /// Whether the last commit ran live jobs only: the next one then runs bulk ones too.
    bulk_owed: bool,
}

impl Queue {
    fn push(&mut self, lane: Lane, job: WriteJob) {
        match lane {
            Lane::Live => self.live.push(job),
            Lane::Bulk => self.bulk.push_back(job),
        }
    }

    /// Takes the jobs waiting in `rx` (live ones up to [`MAX_GROUP`]) without blocking.
    fn take_waiting(&mut self, rx: &mpsc::Receiver<(Lane, WriteJob)>) {
        while self.live.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok((lane, job)) => self.push(lane, job),
                Err(_) => break,
            }
        }
    }
}

/// One transaction: the live jobs of `queue`, then bulk ones from its front, each in its own
/// savepoint; commits once, tells `observer`, then replies.
///
/// A live write waits for as little bulk work as can be: a commit that starts with live jobs
/// runs no bulk job unless the one before ran live jobs only (so bulk work still advances at
/// every other commit at least), and a live job that arrives while bulk jobs run joins this
/// transaction, which then commits at once. Without live jobs bulk ones run until
/// [`MAX_GROUP`] did.
fn commit_group(
    conn: &Connection,
    queue: &mut Queue,
    rx: &mpsc::Receiver<(Lane, WriteJob)>,
    observer: Option<&dyn CommitObserver>,
) {
    let started = Instant::now();
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        // The jobs never run; dropping them drops their reply channels, which read as errors.
        *queue = Queue::default();
        tracing::error!("could not begin a write transaction: {}", Error::from(e));
        return;
    }
    let live = std::mem::take(&mut queue.live);
    let run_bulk = live.is_empty() || queue.bulk_owed;
    let mut replies = Vec::with_capacity(live.len() + 1);
    for job in live {
        run_job(conn, job, &mut replies);
    }
    let mut bulk_ran = 0;
    while run_bulk && bulk_ran < MAX_GROUP {
        let Some(job) = queue.bulk.pop_front() else {
            break;
        };
        run_job(conn, job, &mut replies);
        bulk_ran += 1;
        queue.take_waiting(rx);
        if !queue.live.is_empty() {
            for job in std::mem::take(&mut queue.live) {
                run_job(conn, job, &mut replies);
            }
            break;
        }
    }
    queue.bulk_owed = bulk_ran == 0 && !queue.bulk.is_empty();
    let writes = replies.len();
    let commit = conn.execute_batch("COMMIT").map_err(Error::from);
    match (&commit, observer) {
        (Err(_), _) => {
            let _ = conn.execute_batch("ROLLBACK");
        }
        (Ok(()), Some(observer)) => observer.committed(Commit {
            writes,
            duration: started.elapsed(),
        }),
        (Ok(()), None) => {}
    }
    for reply in replies {
        reply(commit.clone().err());
    }
}

/// Runs one job in its own savepoint, keeping or rolling back its changes as it says, and
/// adds its reply to `replies` (a job that panicked has none: dropping it answers an error).
fn run_job(
    conn: &Connection,
    job: WriteJob,
    replies: &mut Vec<Box<dyn FnOnce(Option<Error>) + Send>>,
) {
    if let Err(e) = conn.execute_batch("SAVEPOINT job") {
        tracing::error!("savepoint failed: {e}");
        return;
    }
    let mut tx = SqliteTx { conn };
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut tx)));
    match outcome {
        Ok(out) if out.keep => {
            let _ = conn.execute_batch("RELEASE job");
            replies.push(out.reply);
        }
        Ok(out) => {
            let _ = conn.execute_batch("ROLLBACK TO job; RELEASE job");
            replies.push(out.reply);
        }
        Err(_) => {
            tracing::error!("a write job panicked; its changes were rolled back");
            let _ = conn.execute_batch("ROLLBACK TO job; RELEASE job");
        }
    }
}

impl Backend for Sqlite {
    fn submit_write(&self, job: WriteJob, lane: Lane) {
        if let Ok(guard) = self.writer.lock() {
            if let Some(tx) = guard.as_ref() {
                let _ = tx.send((lane, job));
            }
        }
    }

    fn submit_read(&self, job: ReadJob) {
        let conn = match self.reader() {
            Ok(c) => c,
            Err(e) => {
                tracing::error!("no reader connection: {e}");
                return;
            }
        };
        let readers = self.readers.clone();
        tokio::task::spawn_blocking(move || {
            if conn.execute_batch("BEGIN").is_ok() {
                job(&mut SqliteTx { conn: &conn });
                let _ = conn.execute_batch("COMMIT");
            }
            if let Ok(mut pool) = readers.lock() {
                if pool.len() < READERS {
                    pool.push(conn);
                }
            }
        });
    }

    fn close(&self) {
        if let Ok(mut guard) = self.writer.lock() {
            guard.take();
        }
        if let Some(handle) = self.writer_thread.lock().ok().and_then(|mut h| h.take()) {
            let _ = handle.join();
        }
        if let Some((stop, handle)) = self.checkpointer.lock().ok().and_then(|mut c| c.take()) {
            drop(stop);
            let _ = handle.join();
        }
    }
}

impl crate::rows::Columns for rusqlite::Row<'_> {
    fn text(&self, i: usize) -> Result<String> {
        Ok(self.get(i)?)
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>> {
        Ok(self.get(i)?)
    }
    fn opt_any_text(&self, i: usize) -> Result<Option<String>> {
        // SQLite's text keeps a NUL.
        Ok(self.get(i)?)
    }
    fn int(&self, i: usize) -> Result<i64> {
        Ok(self.get(i)?)
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        Ok(self.get(i)?)
    }
    fn flag(&self, i: usize) -> Result<bool> {
        Ok(self.get(i)?)
    }
    fn bytes(&self, i: usize) -> Result<Vec<u8>> {
        Ok(self.get(i)?)
    }
}

impl SqliteTx<'_> {
    /// Every row a cached statement answers, read by `read`.
    fn all<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        mut read: impl FnMut(&rusqlite::Row) -> Result<T>,
    ) -> Result<Vec<T>> {
        let mut st = self.conn.prepare_cached(sql)?;
        let mut rows = st.query(params)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(read(row)?);
        }
        Ok(out)
    }

    /// The first row a cached statement answers, if any, read by `read`.
    fn first<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        read: impl FnOnce(&rusqlite::Row) -> Result<T>,
    ) -> Result<Option<T>> {
        let mut st = self.conn.prepare_cached(sql)?;
        let mut rows = st.query(params)?;
        rows.next()?.map(read).transpose()
    }
}

/// Each parameter as SQLite writes it.
fn bound<'p>(params: &'p [&'p dyn Value]) -> impl rusqlite::Params + 'p {
    rusqlite::params_from_iter(params.iter().map(|p| p.sqlite()))
}

impl Db for SqliteTx<'_> {
    type Row<'r> = rusqlite::Row<'r>;
    const TEXT_KEEPS_NUL: bool = true;

    fn execute(&mut self, sql: &'static Sql, params: &[&dyn Value]) -> Result<u64> {
        let mut st = self.conn.prepare_cached(sql.text(Spelling::Sqlite))?;
        Ok(st.execute(bound(params))? as u64)
    }

    fn query<T>(
        &mut self,
        sql: &'static Sql,
        params: &[&dyn Value],
        read: impl FnMut(&rusqlite::Row<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        self.all(sql.text(Spelling::Sqlite), bound(params), read)
    }

    fn insert_seq(&mut self, sql: &'static Sql, params: &[&dyn Value]) -> Result<i64> {
        // `seq` is the row id.
        self.execute(sql, params)?;
        Ok(self.conn.last_insert_rowid())
    }

    fn query_first<T>(
        &mut self,
        sql: &'static Sql,
        params: &[&dyn Value],
        read: impl FnOnce(&rusqlite::Row<'_>) -> Result<T>,
    ) -> Result<Option<T>> {
        self.first(sql.text(Spelling::Sqlite), bound(params), read)
    }

    fn any_text(text: &str) -> std::borrow::Cow<'_, str> {
        // SQLite's text keeps a NUL.
        std::borrow::Cow::Borrowed(text)
    }
}
