//! The retention sweep: deletes, environment by environment, what finished longer ago than
//! the environment's retention period (see the [module](super)).
//!
//! Every write is one short transaction of at most [`BATCH`] runs (or batches, tokens,
//! packets), so other writes go between them. Runs something still needs are skipped, not
//! read again: the sweep walks each environment's finished runs with a cursor. A sweep given
//! a number of writes stops when they are spent and the next one goes on where it stopped
//! ([`Sweeper`]), so the timer loop never spends long on a backlog; the position is a
//! convenience only (a new sweep after a restart starts over and finds the same runs).

use serde::Serialize;
use trigr_store::{ExpiredRun, SweepCursor};
use trigr_types::Millis;

use super::settings::stored;
use super::DAY_MS;
use crate::{Engine, Result};

/// Most runs, batches, tokens or packets one write deletes.
pub const BATCH: usize = 500;

/// What a sweep deleted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Swept {
    pub runs: u64,
    /// Runs past their period kept because something alive still needs them.
    pub kept: u64,
    pub batches: u64,
    pub tokens: u64,
    pub packets: u64,
    /// False when the sweep ran out of writes before the end (the next one goes on).
    pub done: bool,
}

/// Where in an environment a sweep stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Runs(SweepCursor),
    Shared(Shared),
}

/// What several runs may share, swept after the runs, in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shared {
    Batches,
    Tokens,
    Packets,
}

impl Shared {
    fn next(self) -> Option<Shared> {
        match self {
            Shared::Batches => Some(Shared::Tokens),
            Shared::Tokens => Some(Shared::Packets),
            Shared::Packets => None,
        }
    }
}

/// A sweep's position between calls: the environment and the stage it stopped at.
#[derive(Debug, Default)]
pub struct Sweeper {
    resume: Option<(String, Stage)>,
}

/// One environment's sweep: its cutoff and the writes left.
struct Pass<'a> {
    engine: &'a Engine,
    env_id: String,
    before: Millis,
    writes_left: Option<usize>,
    swept: Swept,
}

impl Sweeper {
    /// Sweeps every environment, in at most `max_writes` writes (all it takes when `None`).
    pub async fn sweep(&mut self, engine: &Engine, max_writes: Option<usize>) -> Result<Swept> {
        let settings = engine.read(|tx| Ok(tx.retention_settings()?)).await?;
        let now = engine.now();
        let default = engine.config.retention_days;
        let resume = self.resume.take();
        let mut writes_left = max_writes;
        let mut swept = Swept::default();
        for (env_id, own) in settings {
            let mut stage = Stage::Runs(SweepCursor::START);
            if let Some((at, s)) = &resume {
                if env_id < *at {
                    continue;
                }
                if env_id == *at {
                    stage = *s;
                }
            }
            let days = own.map_or(default, stored);
            if days == 0 {
                continue;
            }
            let mut pass = Pass {
                engine,
                env_id,
                before: now.saturating_sub(i64::from(days) * DAY_MS),
                writes_left,
                swept: std::mem::take(&mut swept),
            };
            let stopped = pass.run(stage).await?;
            writes_left = pass.writes_left;
            swept = pass.swept;
            if let Some(stage) = stopped {
                self.resume = Some((pass.env_id, stage));
                return Ok(swept);
            }
        }
        swept.done = true;
        Ok(swept)
    }
}

impl Pass<'_> {
    /// Sweeps the environment from `stage` on; the stage it stopped at when the writes ran
    /// out, `None` once done.
    async fn run(&mut self, mut stage: Stage) -> Result<Option<Stage>> {
        loop {
            if self.writes_left == Some(0) {
                return Ok(Some(stage));
            }
            self.writes_left = self.writes_left.map(|n| n - 1);
            stage = match stage {
                Stage::Runs(cursor) => match self.runs(cursor).await? {
                    Some(next) => Stage::Runs(next),
                    None => Stage::Shared(Shared::Batches),
                },
                Stage::Shared(kind) => match (self.shared(kind).await?, kind.next()) {
                    (true, _) => Stage::Shared(kind),
                    (false, Some(next)) => Stage::Shared(next),
                    (false, None) => return Ok(None),
                },
            };
        }
    }

    /// One write: the next [`BATCH`] finished runs past the cutoff, those nobody needs
    /// deleted. The cursor after them while there may be more.
    async fn runs(&mut self, cursor: SweepCursor) -> Result<Option<SweepCursor>> {
        let (env_id, before) = (self.env_id.clone(), self.before);
        let (found, deleted, last) = self
            .engine
            .write(move |tx| {
                let found = tx.expired_runs(&env_id, before, cursor, BATCH)?;
                let free: Vec<ExpiredRun> = found.iter().filter(|r| !r.needed).cloned().collect();
                let deleted = tx.delete_runs(&free)?;
                Ok((found.len(), deleted, found.last().map(SweepCursor::after)))
            })
            .await?;
        self.swept.runs += deleted;
        self.swept.kept += found as u64 - deleted;
        Ok(last.filter(|_| found == BATCH))
    }

    /// One write of batches, tokens or packets; whether there may be more.
    async fn shared(&mut self, kind: Shared) -> Result<bool> {
        let (env_id, before) = (self.env_id.clone(), self.before);
        let deleted = self
            .engine
            .write(move |tx| {
                Ok(match kind {
                    Shared::Batches => tx.delete_expired_batches(&env_id, before, BATCH)?,
                    Shared::Tokens => tx.delete_expired_tokens(&env_id, before, BATCH)?,
                    Shared::Packets => tx.delete_expired_packets(&env_id, before, BATCH)?,
                })
            })
            .await?;
        *match kind {
            Shared::Batches => &mut self.swept.batches,
            Shared::Tokens => &mut self.swept.tokens,
            Shared::Packets => &mut self.swept.packets,
        } += deleted;
        Ok(deleted == BATCH as u64)
    }
}
