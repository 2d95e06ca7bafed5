//! `migrate`: move runs that hold no lease from one version to another.
//!
//! A run is locked to a version, and only workers of that version take it. When that version's
//! workers are gone for good (a rebuilt dev worker registers a new version; an old deployment
//! was drained), its runs that have not started, are delayed, are waiting on a waitpoint or
//! are queued again for a retry (`QUEUED`, `DELAYED`, `WAITING`) would wait forever. Moving
//! one is the named transition `transition::migrated`: only its version changes, each
//! move one compare-and-set, in batches of [`BATCH`] runs per transaction. Runs a worker holds
//! (`DEQUEUED`, `EXECUTING`) are never moved; they finish where they are, or move later.
//!
//! The new version replays a moved run's journal as any resume or retry does, so a task whose
//! code reaches another step or wait at a journaled position fails with the non-determinism
//! error (worker protocol §7.1), checked by the worker and by the server on every durable call.
//!
//! * [`Engine::migrate_runs`]: an operator's move (`POST /api/v1/runs/migrate`, `trigr runs
//!   migrate`), of every task or one, to a version that must declare each moved run's task.
//! * `abandoned`: in development environments, the timer loop moves the runs of versions
//!   none of whose workers asked for runs for [`crate::Config::dev_migrate_after`] (default
//!   [`DEV_MIGRATE_AFTER`]) to the version with workers that declares each task (the current
//!   one, else the newest).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use trigr_store::{EnvKind, ReadTx, Run};
use trigr_types::wire::rest::MigrateRunsBody;
use trigr_types::{version, Millis};

use crate::presence::{WorkersSeen, WORKER_SEEN_WINDOW_MS};
use crate::transition::migrated;
use crate::{transition, Engine, Error, LoadedDeployment, Result, Txn};

/// Runs moved (or looked at) per transaction.
pub const BATCH: usize = 200;
/// Most runs one call looks at, and the default.
pub const MAX_LIMIT: usize = 100_000;
pub const DEFAULT_LIMIT: usize = 10_000;
/// How long a development version may have no worker before its runs move (60 s).
pub const DEV_MIGRATE_AFTER: Duration = Duration::from_secs(60);
/// The shortest such time: a version with workers is never abandoned.
pub const MIN_DEV_MIGRATE_AFTER: Duration = Duration::from_millis(WORKER_SEEN_WINDOW_MS as u64);
/// How often the timer loop looks for abandoned development versions (5 s).
pub const DEV_PASS_EVERY_MS: Millis = 5_000;

/// A checked migration request ([`check`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Migration {
    pub from: String,
    pub to: String,
    pub task: Option<String>,
    /// Most runs to look at.
    pub limit: usize,
    /// Look at runs after this one (by store order).
    pub after: i64,
}

/// Checks a migration body: two different versions, a task id, a limit in range and a cursor
/// of an earlier answer.
pub fn check(body: MigrateRunsBody) -> Result<Migration> {
    for (name, v) in [("from", &body.from), ("to", &body.to)] {
        if v.is_empty() || v.len() > 64 {
            return Err(Error::invalid(format!(
                "{name} must be a version of 1 to 64 characters, like 20260102.3"
            )));
        }
    }
    if body.from == body.to {
        return Err(Error::invalid(format!(
            "from and to are the same version ({}): nothing to move",
            body.from
        )));
    }
    if body
        .task
        .as_ref()
        .is_some_and(|t| t.is_empty() || t.len() > 128)
    {
        return Err(Error::invalid(
            "task must be a task id of 1 to 128 characters",
        ));
    }
    let limit = match body.limit {
        None => DEFAULT_LIMIT,
        Some(n) if (1..=MAX_LIMIT as i64).contains(&n) => n as usize,
        Some(n) => {
            return Err(Error::invalid(format!(
                "limit must be 1 to {MAX_LIMIT}, got {n}"
            )))
        }
    };
    let after =
        match &body.cursor {
            None => 0,
            Some(c) => c.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                Error::invalid("cursor must be the nextCursor of an earlier answer")
            })?,
        };
    Ok(Migration {
        from: body.from,
        to: body.to,
        task: body.task,
        limit,
        after,
    })
}

/// What a migration did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Migrated {
    pub moved: u64,
    /// Runs left because the target does not declare their task, by task.
    pub skipped: BTreeMap<String, u64>,
    /// Runs of the old version a worker holds now.
    pub executing: i64,
    /// Where a next call continues; `None` when every run was looked at.
    pub next: Option<i64>,
}

/// One batch of a migration.
struct Batch {
    looked_at: usize,
    last_seq: Option<i64>,
}

impl Engine {
    /// Moves the runs of `m.from` that hold no lease to `m.to`, in batches of [`BATCH`], up
    /// to `m.limit` looked at.
    pub async fn migrate_runs(&self, env_id: &str, m: Migration) -> Result<Migrated> {
        let mut done = Migrated::default();
        let mut after = m.after;
        let mut looked_at = 0;
        loop {
            let want = BATCH.min(m.limit - looked_at);
            let (env, m2) = (env_id.to_string(), m.clone());
            let (batch, moved, skipped) = self
                .write(move |tx| migrate_batch(tx, &env, &m2, after, want))
                .await?;
            done.moved += moved;
            for (task, n) in skipped {
                *done.skipped.entry(task).or_default() += n;
            }
            looked_at += batch.looked_at;
            let Some(last) = batch.last_seq else { break };
            after = last;
            if batch.looked_at < want {
                break;
            }
            if looked_at >= m.limit {
                done.next = Some(after);
                break;
            }
        }
        let (env, from) = (env_id.to_string(), m.from.clone());
        done.executing = self
            .read(move |tx| Ok(tx.leased_on_version(&env, &from)?))
            .await?;
        Ok(done)
    }
}

/// One transaction of [`Engine::migrate_runs`]: checks both versions, then moves up to `want`
/// runs after `after`.
fn migrate_batch(
    tx: &mut Txn<'_>,
    env_id: &str,
    m: &Migration,
    after: i64,
    want: usize,
) -> Result<(Batch, u64, BTreeMap<String, u64>)> {
    let now = tx.now();
    if tx.loaded_deployment(env_id, &m.from)?.is_none() {
        return Err(Error::not_found(format!(
            "No deployment has version {}",
            m.from
        )));
    }
    let to = tx
        .loaded_deployment(env_id, &m.to)?
        .ok_or_else(|| Error::not_found(format!("No deployment has version {}", m.to)))?;
    if let Some(task) = &m.task {
        if to.task(task).is_none() {
            return Err(Error::unprocessable(format!(
                "Task '{task}' is not declared by version {}, so its runs cannot move there",
                m.to
            )));
        }
    }
    let runs = tx.parked_runs(env_id, &m.from, m.task.as_deref(), after, want)?;
    let batch = Batch {
        looked_at: runs.len(),
        last_seq: runs.last().map(|r| r.seq),
    };
    let mut moved = 0;
    let mut skipped: BTreeMap<String, u64> = BTreeMap::new();
    for run in runs {
        if to.task(&run.task_id).is_none() {
            *skipped.entry(run.task_id.clone()).or_default() += 1;
            continue;
        }
        if transition(tx, &run, &migrated(&run, &m.to, now))? {
            moved += 1;
        }
    }
    if moved > 0 {
        tx.wake(env_id);
    }
    Ok((batch, moved, skipped))
}

/// A move the development pass found: runs of `task` on the abandoned `from` go to `to`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DevMove {
    pub env_id: String,
    pub from: String,
    pub to: String,
    pub task: String,
}

/// The moves due in the development environments at `now`, found by reads only: for each
/// version with parked runs none of whose workers asked for runs for `after_ms`, each task
/// with a version with workers that declares it, that version (the current one, else the
/// newest such).
pub fn dev_moves(tx: &mut dyn ReadTx, now: Millis, after_ms: Millis) -> Result<Vec<DevMove>> {
    let mut moves = Vec::new();
    for env in tx.environments()? {
        if env.kind != EnvKind::Development {
            continue;
        }
        let seen = WorkersSeen::read(tx, &env.id, now)?;
        let mut live: Vec<&String> = seen
            .last_seen
            .keys()
            .filter(|v| seen.has_workers(v))
            .collect();
        if live.is_empty() {
            continue;
        }
        // The current version first, as triggers see it (`crate::serving`), then newest first.
        live.sort_by(|a, b| {
            let current = |v: &str| env.current_version.as_deref() == Some(v);
            current(b)
                .cmp(&current(a))
                .then_with(|| version::compare(b, a))
        });
        let gone = |v: &String| {
            !seen.has_workers(v) && seen.last_seen(v).is_some_and(|t| now - t >= after_ms)
        };
        // Only when a version is gone are its runs looked for.
        if !seen.last_seen.keys().any(gone) {
            continue;
        }
        let abandoned: Vec<String> = tx
            .parked_versions(&env.id)?
            .into_iter()
            .filter(gone)
            .collect();
        if abandoned.is_empty() {
            continue;
        }
        // Each task goes to the first of them that declares it.
        let mut serving: BTreeMap<String, String> = BTreeMap::new();
        for v in &live {
            let Some(d) = tx.deployment(&env.id, v)? else {
                continue;
            };
            for t in &d.tasks {
                serving.entry(t.id.clone()).or_insert_with(|| v.to_string());
            }
        }
        for from in abandoned {
            for (task, to) in &serving {
                moves.push(DevMove {
                    env_id: env.id.clone(),
                    from: from.clone(),
                    to: to.clone(),
                    task: task.clone(),
                });
            }
        }
    }
    Ok(moves)
}

/// Moves up to `budget` runs as `moves` say, in one transaction; returns how many moved. Runs
/// are read again here, locked, and each move is a compare-and-set, so a run that started or
/// ended meanwhile stays as it is.
pub(crate) fn abandoned(tx: &mut Txn<'_>, moves: &[DevMove], budget: usize) -> Result<usize> {
    let now = tx.now();
    let mut moved = 0;
    for m in moves {
        if moved >= budget {
            break;
        }
        let Some(to) = target(tx, m)? else { continue };
        let runs: Vec<Run> =
            tx.parked_runs(&m.env_id, &m.from, Some(&m.task), 0, budget - moved)?;
        for run in runs {
            if transition(tx, &run, &migrated(&run, &to.deployment.version, now))? {
                moved += 1;
                tx.wake(&m.env_id);
            }
        }
    }
    Ok(moved)
}

/// The deployment a development move goes to, if it still declares the task.
fn target(tx: &mut Txn<'_>, m: &DevMove) -> Result<Option<Arc<LoadedDeployment>>> {
    Ok(tx
        .loaded_deployment(&m.env_id, &m.to)?
        .filter(|d| d.task(&m.task).is_some()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(from: &str, to: &str) -> MigrateRunsBody {
        MigrateRunsBody {
            from: from.into(),
            to: to.into(),
            ..Default::default()
        }
    }

    #[test]
    fn checks_versions_limit_and_cursor() {
        let m = check(body("20260101.1", "20260101.2")).expect("valid");
        assert_eq!((m.limit, m.after, m.task), (DEFAULT_LIMIT, 0, None));
        let m = check(MigrateRunsBody {
            task: Some("t".into()),
            limit: Some(5),
            cursor: Some("42".into()),
            ..body("a", "b")
        })
        .expect("valid");
        assert_eq!((m.limit, m.after, m.task.as_deref()), (5, 42, Some("t")));

        let refused = |b: MigrateRunsBody, words: &str| {
            let e = check(b).expect_err("refused");
            assert!(matches!(e, Error::Invalid(_)), "{e:?}");
            assert!(e.to_string().contains(words), "{e} lacks {words}");
        };
        refused(body("", "b"), "from must be");
        refused(body("a", &"9".repeat(65)), "to must be");
        refused(body("a", "a"), "same version");
        refused(
            MigrateRunsBody {
                task: Some(String::new()),
                ..body("a", "b")
            },
            "task must be",
        );
        for limit in [0, -1, MAX_LIMIT as i64 + 1, i64::MAX] {
            refused(
                MigrateRunsBody {
                    limit: Some(limit),
                    ..body("a", "b")
                },
                "limit must be 1 to 100000",
            );
        }
        for cursor in ["", "x", "-1", "99999999999999999999"] {
            refused(
                MigrateRunsBody {
                    cursor: Some(cursor.into()),
                    ..body("a", "b")
                },
                "cursor",
            );
        }
    }
}
