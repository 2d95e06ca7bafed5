//! `floor_runs_per_s` (SQLite) and `pg_floor_runs_per_s`: what the store itself can do for the
//! durable work of a run, so that `e2e_runs_per_s / floor_runs_per_s` says what everything
//! above the database (HTTP, the engine, trigr's own store code) costs, on any machine.
//!
//! No server, HTTP, engine or trigr code takes part: a table of runs is written straight
//! through the database's own client with the minimum writes a run needs, grouped into
//! commits as the e2e workload allows them to be:
//!
//! * **create**: runs inserted `QUEUED`, [`BATCH`] in one transaction (one batch of the e2e
//!   scenario's senders);
//! * **claim**: up to [`LOT`] of the oldest queued runs set `EXECUTING` with a lease, in one
//!   statement and transaction (a worker's dequeue of `maxRuns` 200);
//! * **complete**: those runs set `COMPLETED` with their output, in one transaction (the
//!   worker's batched complete); every one must still be `EXECUTING`.
//!
//! Every transaction is durable when it commits, as the server's are: SQLite in WAL mode with
//! `synchronous=FULL` in a new temporary directory where the servers' stores live, PostgreSQL
//! with the database's own settings (`synchronous_commit` on) in a new schema, dropped
//! afterwards. A row holds what a run needs to be queued, claimed and finished: a random
//! 28-character text id (as long as trigr's run ids, so the primary key sees the same random
//! inserts), environment, queue, task, status, payload, output, queue order, times and lease.
//! One index serves the claim: the queued runs of a queue in order (a partial index).
//!
//! SQLite has one writer, so one thread does everything in turn: a batch created, then a claim
//! and a complete of [`LOT`] runs for as long as that many are queued (at the end, of what is
//! left). PostgreSQL commits concurrent transactions together, so it gets the e2e scenario's
//! shape: [`SENDERS`] sender threads and [`WORKERS`] worker threads, each on a connection of
//! its own; a worker that finds nothing queued waits 1 ms. The figure is runs divided by the
//! time from the first write to the commit that completed the last run. Afterwards every run
//! must read `COMPLETED`.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, ensure, Context, Result};

use super::{Outcome, Settings};
use crate::report::FLOOR_RUNS_PER_S;
use crate::server::{self, Schema, Target};
use crate::stats::{fmt_num, per_second};

/// Runs created in one transaction.
pub const BATCH: usize = 500;
/// Runs claimed, and then completed, in one transaction.
pub const LOT: usize = 200;
/// Concurrent creating connections on PostgreSQL.
pub const SENDERS: usize = 4;
/// Concurrent claiming and completing connections on PostgreSQL.
pub const WORKERS: usize = 4;
/// Lease given to a claimed run.
const LEASE_MS: i64 = 60_000;

const ENVIRONMENT: &str = "env_floor";
const QUEUE: &str = "task/noop";

/// The table and its claim index, in SQL both databases take.
const SCHEMA: &str = "
CREATE TABLE floor_runs (
    id TEXT PRIMARY KEY,
    environment_id TEXT NOT NULL,
    queue TEXT NOT NULL,
    task TEXT NOT NULL,
    status TEXT NOT NULL,
    payload TEXT NOT NULL,
    output TEXT,
    seq BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    lease_expires_at BIGINT
);
CREATE INDEX floor_runs_queued ON floor_runs (environment_id, queue, seq) WHERE status = 'QUEUED';
";

/// Completed runs, to check the work was done.
const COUNT_COMPLETED: &str = "SELECT count(*) FROM floor_runs WHERE status = 'COMPLETED'";

pub async fn run(target: Target, settings: &Settings) -> Result<Outcome> {
    let runs = settings.runs;
    let deadline = Instant::now() + settings.timeout;
    let (elapsed, detail) = match target {
        Target::Sqlite => on_thread(move || on_sqlite(runs, deadline)).await?,
        Target::Pg1 => {
            let schema = Schema::create(&settings.database_url).await?;
            let url = schema.url();
            let measured = on_thread(move || on_postgres(&url, runs, deadline)).await;
            let name = schema.name.clone();
            if let Err(e) = schema.drop().await {
                eprintln!("warning: could not drop the benchmark schema {name}: {e:#}");
            }
            measured?
        }
        Target::Pg2 => bail!("the floor is measured on SQLite and one PostgreSQL connection pool"),
    };
    Ok(Outcome {
        figures: vec![(&FLOOR_RUNS_PER_S, per_second(runs, elapsed))],
        detail: format!(
            "{} runs created ({BATCH}/commit), claimed and completed ({LOT}/commit) in {:.2} s; {detail}",
            fmt_num(runs as f64, 0),
            elapsed.as_secs_f64()
        ),
    })
}

/// Runs `work` on a plain thread (the synchronous clients must not block this program's async
/// threads, and PostgreSQL's drives a runtime of its own) and waits for its answer.
async fn on_thread<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("trigr-bench-floor".into())
        .spawn(move || {
            let _ = tx.send(work());
        })
        .context("starting the floor's thread")?;
    rx.await
        .map_err(|_| anyhow!("the floor's thread stopped without answering"))?
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A random run id of trigr's length: `run_` and 24 random characters.
fn run_id() -> String {
    format!("run_{:024x}", rand::random::<u128>() >> 32)
}

fn check_deadline(deadline: Instant) -> Result<()> {
    ensure!(
        Instant::now() < deadline,
        "the floor did not finish within the scenario's time limit"
    );
    Ok(())
}

/// The SQLite floor: one connection, every write in turn.
fn on_sqlite(runs: usize, deadline: Instant) -> Result<(Duration, String)> {
    let dir = tempfile::Builder::new()
        .prefix("trigr-bench-floor-")
        .tempdir()
        .context("creating the temporary directory")?;
    let mut conn = rusqlite::Connection::open(dir.path().join("floor.db"))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.execute_batch(SCHEMA)?;

    let started = Instant::now();
    let (mut created, mut queued, mut completed) = (0, 0, 0);
    while completed < runs {
        check_deadline(deadline)?;
        if created < runs {
            let size = BATCH.min(runs - created);
            sqlite_create(&mut conn, created, size)?;
            created += size;
            queued += size;
        }
        while queued >= LOT || (created == runs && queued > 0) {
            let ids = sqlite_claim(&mut conn)?;
            ensure!(
                !ids.is_empty(),
                "{queued} runs are queued but none was claimed"
            );
            sqlite_complete(&mut conn, &ids)?;
            queued -= ids.len();
            completed += ids.len();
        }
    }
    let elapsed = started.elapsed();
    let done: i64 = conn.query_row(COUNT_COMPLETED, [], |r| r.get(0))?;
    ensure!(
        done as usize == runs,
        "{done} of {runs} runs read COMPLETED"
    );
    Ok((
        elapsed,
        "SQLite WAL, synchronous=FULL, one connection".into(),
    ))
}

fn sqlite_create(conn: &mut rusqlite::Connection, first: usize, size: usize) -> Result<()> {
    let tx = conn.transaction()?;
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO floor_runs (id, environment_id, queue, task, status, payload, seq, created_at, updated_at) \
             VALUES (?1, ?2, ?3, 'noop', 'QUEUED', '{\"i\":1}', ?4, ?5, ?5)",
        )?;
        let now = now_ms();
        for seq in first..first + size {
            insert.execute(rusqlite::params![
                run_id(),
                ENVIRONMENT,
                QUEUE,
                seq as i64,
                now
            ])?;
        }
    }
    tx.commit()?;
    Ok(())
}

fn sqlite_claim(conn: &mut rusqlite::Connection) -> Result<Vec<String>> {
    let tx = conn.transaction()?;
    let ids = {
        let mut claim = tx.prepare_cached(
            "UPDATE floor_runs SET status = 'EXECUTING', lease_expires_at = ?1, updated_at = ?2 \
             WHERE id IN (SELECT id FROM floor_runs WHERE environment_id = ?3 AND queue = ?4 \
             AND status = 'QUEUED' ORDER BY seq LIMIT ?5) RETURNING id",
        )?;
        let now = now_ms();
        let rows = claim.query_map(
            rusqlite::params![now + LEASE_MS, now, ENVIRONMENT, QUEUE, LOT as i64],
            |r| r.get::<_, String>(0),
        )?;
        rows.collect::<rusqlite::Result<Vec<String>>>()?
    };
    tx.commit()?;
    Ok(ids)
}

fn sqlite_complete(conn: &mut rusqlite::Connection, ids: &[String]) -> Result<()> {
    let tx = conn.transaction()?;
    {
        let mut complete = tx.prepare_cached(
            "UPDATE floor_runs SET status = 'COMPLETED', output = 'null', updated_at = ?2, \
             lease_expires_at = NULL WHERE id = ?1 AND status = 'EXECUTING'",
        )?;
        let now = now_ms();
        for id in ids {
            let changed = complete.execute(rusqlite::params![id, now])?;
            ensure!(changed == 1, "run {id} was not EXECUTING when completed");
        }
    }
    tx.commit()?;
    Ok(())
}

/// What the PostgreSQL threads share.
struct Shared {
    runs: usize,
    deadline: Instant,
    /// Batches taken by the senders.
    next_batch: AtomicUsize,
    /// Queue order of the next run.
    next_seq: AtomicU64,
    completed: AtomicUsize,
    /// When the last run was completed (time since the start, in microseconds).
    finished_us: AtomicU64,
    /// Set by a thread that failed, so that the others stop.
    failed: AtomicBool,
}

/// The PostgreSQL floor: the e2e shape of senders and workers, a connection each.
fn on_postgres(url: &str, runs: usize, deadline: Instant) -> Result<(Duration, String)> {
    let mut setup = server::connect(url)?;
    setup.batch_execute(SCHEMA).map_err(pg_error)?;
    let shared = Shared {
        runs,
        deadline,
        next_batch: AtomicUsize::new(0),
        next_seq: AtomicU64::new(0),
        completed: AtomicUsize::new(0),
        finished_us: AtomicU64::new(0),
        failed: AtomicBool::new(false),
    };
    let mut clients = Vec::with_capacity(SENDERS + WORKERS);
    for _ in 0..SENDERS + WORKERS {
        clients.push(server::connect(url)?);
    }
    let started = Instant::now();
    std::thread::scope(|scope| {
        let mut threads = Vec::new();
        for (n, client) in clients.into_iter().enumerate() {
            let shared = &shared;
            threads.push(scope.spawn(move || {
                let result = if n < SENDERS {
                    pg_sender(client, shared)
                } else {
                    pg_worker(client, shared, started)
                };
                if result.is_err() {
                    shared.failed.store(true, Ordering::Relaxed);
                }
                result
            }));
        }
        threads
            .into_iter()
            .try_for_each(|t| t.join().map_err(|_| anyhow!("a floor thread panicked"))?)
    })?;
    let elapsed = Duration::from_micros(shared.finished_us.load(Ordering::Relaxed));
    let done: i64 = setup
        .query_one(COUNT_COMPLETED, &[])
        .map_err(pg_error)?
        .get(0);
    ensure!(
        done as usize == runs,
        "{done} of {runs} runs read COMPLETED"
    );
    Ok((
        elapsed,
        format!("{SENDERS} creating and {WORKERS} claiming connections"),
    ))
}

fn pg_error(e: postgres::Error) -> anyhow::Error {
    anyhow!("{}", server::describe(&e))
}

fn pg_sender(mut client: postgres::Client, shared: &Shared) -> Result<()> {
    let insert = client
        .prepare(
            "INSERT INTO floor_runs (id, environment_id, queue, task, status, payload, seq, created_at, updated_at) \
             SELECT id, $3, $4, 'noop', 'QUEUED', '{\"i\":1}', seq, $5, $5 \
             FROM unnest($1::text[], $2::bigint[]) AS t(id, seq)",
        )
        .map_err(pg_error)?;
    let batches = shared.runs.div_ceil(BATCH);
    loop {
        let n = shared.next_batch.fetch_add(1, Ordering::Relaxed);
        if n >= batches || shared.failed.load(Ordering::Relaxed) {
            return Ok(());
        }
        check_deadline(shared.deadline)?;
        let size = BATCH.min(shared.runs - n * BATCH);
        let first = shared.next_seq.fetch_add(size as u64, Ordering::Relaxed) as i64;
        let ids: Vec<String> = (0..size).map(|_| run_id()).collect();
        let seqs: Vec<i64> = (first..first + size as i64).collect();
        let written = client
            .execute(&insert, &[&ids, &seqs, &ENVIRONMENT, &QUEUE, &now_ms()])
            .map_err(pg_error)?;
        ensure!(
            written as usize == size,
            "{written} of {size} runs inserted"
        );
    }
}

fn pg_worker(mut client: postgres::Client, shared: &Shared, started: Instant) -> Result<()> {
    let claim = client
        .prepare(
            "UPDATE floor_runs SET status = 'EXECUTING', lease_expires_at = $1, updated_at = $2 \
             WHERE id IN (SELECT id FROM floor_runs WHERE environment_id = $3 AND queue = $4 \
             AND status = 'QUEUED' ORDER BY seq LIMIT $5 FOR UPDATE SKIP LOCKED) RETURNING id",
        )
        .map_err(pg_error)?;
    let complete = client
        .prepare(
            "UPDATE floor_runs SET status = 'COMPLETED', output = 'null', updated_at = $2, \
             lease_expires_at = NULL FROM unnest($1::text[]) AS u(id) \
             WHERE floor_runs.id = u.id AND floor_runs.status = 'EXECUTING'",
        )
        .map_err(pg_error)?;
    while shared.completed.load(Ordering::Relaxed) < shared.runs {
        if shared.failed.load(Ordering::Relaxed) {
            return Ok(());
        }
        check_deadline(shared.deadline)?;
        let now = now_ms();
        let rows = client
            .query(
                &claim,
                &[&(now + LEASE_MS), &now, &ENVIRONMENT, &QUEUE, &(LOT as i64)],
            )
            .map_err(pg_error)?;
        if rows.is_empty() {
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        let ids: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        let changed = client
            .execute(&complete, &[&ids, &now_ms()])
            .map_err(pg_error)?;
        ensure!(
            changed as usize == ids.len(),
            "{changed} of {} claimed runs were still EXECUTING when completed",
            ids.len()
        );
        let before = shared.completed.fetch_add(ids.len(), Ordering::Relaxed);
        if before < shared.runs && before + ids.len() >= shared.runs {
            let us = started.elapsed().as_micros() as u64;
            shared.finished_us.store(us, Ordering::Relaxed);
        }
    }
    Ok(())
}
