//! Read-only queries: a run with its relatives (and why it waits), run lists, deployments.

use trigr_store::{BufferCursor, Deployment, Page, ReadTx, Run, RunFilter};

use crate::attempts::{history, AttemptView};
use crate::explain::{waiting_for, WaitingFor};
use crate::mollifier::fallback::{Fetched, Want};
use crate::mollifier::listing::{buffered_page, entry_seq, ListFilter};
use crate::presence::WorkersSeen;
use crate::{Engine, Error, Result};

/// A run with the runs around it.
pub struct RunWithRelatives {
    pub run: Run,
    pub root: Option<Run>,
    pub parent: Option<Run>,
    pub children: Vec<Run>,
    /// Why the run is not running, when it is neither final, dequeued nor executing.
    pub waiting_for: Option<WaitingFor>,
    /// Its attempts, by number.
    pub attempts: Vec<AttemptView>,
}

/// The deployments of an environment (see [`Engine::deployments`]).
pub struct DeploymentList {
    /// Newest first.
    pub deployments: Vec<Deployment>,
    pub current: Option<String>,
    pub workers: WorkersSeen,
}

impl Engine {
    pub async fn retrieve_run(&self, env_id: &str, run_id: &str) -> Result<RunWithRelatives> {
        let fetched = self.fetch_buffered(Want::Run { env_id, run_id }).await;
        let (env_id, run_id, now) = (env_id.to_string(), run_id.to_string(), self.now());
        self.read(move |tx| {
            let run = match tx.run(&env_id, &run_id)? {
                Some(run) => run,
                None => return buffered_detail(tx, &fetched, &env_id, &run_id),
            };
            let parent = match &run.parent_run_id {
                Some(p) => tx.run(&env_id, p)?,
                None => None,
            };
            let root = match &run.root_run_id {
                Some(r) if Some(r) == run.parent_run_id.as_ref() => parent.clone(),
                Some(r) => tx.run(&env_id, r)?,
                None => None,
            };
            let children = tx.children(&run.id)?;
            let waiting_for = waiting_for(tx, &run, now)?;
            let attempts = history(&run, tx.attempts(&run.id)?);
            Ok(RunWithRelatives {
                run,
                root,
                parent,
                children,
                waiting_for,
                attempts,
            })
        })
        .await
    }

    /// One page of runs, newest first. `after`/`before` are run ids (cursors); `size + 1` runs
    /// are read so the caller knows whether another page exists.
    pub async fn list_runs(
        &self,
        env_id: &str,
        filter: RunFilter,
        size: usize,
        after: Option<String>,
        before: Option<String>,
        queue_names: Vec<String>,
    ) -> Result<Vec<Run>> {
        let fetched = self
            .fetch_buffered(Want::Page {
                env_id,
                after: after.as_deref(),
                before: before.as_deref(),
            })
            .await;
        let env_id = env_id.to_string();
        self.read(move |tx| {
            let mut filter = filter;
            for name in &queue_names {
                // An unknown queue matches nothing.
                let id = tx
                    .queue_by_name(&env_id, name)?
                    .map_or_else(|| "queue_none".to_string(), |q| q.id);
                filter.queue_ids.push(id);
            }
            let list = RunsList {
                env_id: &env_id,
                fetched: &fetched,
                buffered: ListFilter {
                    filter: &filter,
                    queue_names: &queue_names,
                },
                want: size + 1,
            };
            match (after, before) {
                (Some(id), _) => match entry_seq(tx, &fetched, &env_id, &id)? {
                    Some(seq) => list.down_from(tx, seq),
                    None => {
                        let after_seq = Some(run_seq(tx, &env_id, &id)?);
                        list.runs(tx, after_seq, None)
                    }
                },
                (None, Some(id)) => match entry_seq(tx, &fetched, &env_id, &id)? {
                    Some(seq) => list.buffered_up(tx, seq, list.want),
                    None => {
                        let before_seq = Some(run_seq(tx, &env_id, &id)?);
                        let runs = list.runs(tx, None, before_seq)?;
                        let mut page = list.buffered_up(tx, 0, list.want - runs.len())?;
                        page.extend(runs);
                        Ok(page)
                    }
                },
                (None, None) => list.down_from(tx, i64::MAX),
            }
        })
        .await
    }

    /// Deployments of an environment, newest first, the current version, and when workers of
    /// each version were last seen.
    pub async fn deployments(&self, env_id: &str, limit: usize) -> Result<DeploymentList> {
        let (env_id, now) = (env_id.to_string(), self.now());
        self.read(move |tx| {
            let env = tx
                .environment(&env_id)?
                .ok_or_else(|| Error::not_found("Environment not found"))?;
            Ok(DeploymentList {
                deployments: tx.deployments(&env_id, limit)?,
                current: env.current_version,
                workers: WorkersSeen::read(tx, &env_id, now)?,
            })
        })
        .await
    }
}

/// A buffered run's detail (read-fallback): no relatives or attempts yet, waiting in the
/// mollifier's buffer.
fn buffered_detail(
    tx: &mut dyn trigr_store::ReadTx,
    fetched: &Fetched,
    env_id: &str,
    run_id: &str,
) -> Result<RunWithRelatives> {
    let run = crate::mollifier::fallback::buffered_run(tx, fetched, env_id, run_id)?
        .ok_or_else(|| Error::run_not_found(run_id))?;
    Ok(RunWithRelatives {
        run,
        root: None,
        parent: None,
        children: Vec::new(),
        waiting_for: Some(crate::explain::WaitingFor::buffered()),
        attempts: Vec::new(),
    })
}

/// One page of the runs list: buffered runs first (they are created after every run that
/// exists), then created runs ([`crate::mollifier::listing`]).
struct RunsList<'a> {
    env_id: &'a str,
    /// The buffer's entries when it is outside the store.
    fetched: &'a Fetched,
    buffered: ListFilter<'a>,
    /// Runs to read: the page and one more.
    want: usize,
}

impl RunsList<'_> {
    /// Buffered runs older than entry `seq`, then created runs from the newest.
    fn down_from(&self, tx: &mut dyn ReadTx, seq: i64) -> Result<Vec<Run>> {
        let mut page = buffered_page(
            tx,
            self.fetched,
            self.env_id,
            BufferCursor::Below(seq),
            self.want,
            &self.buffered,
        )?;
        if page.len() < self.want {
            let runs = self.runs(tx, None, None)?;
            let left = self.want - page.len();
            page.extend(runs.into_iter().take(left));
        }
        Ok(page)
    }

    /// Up to `want` buffered runs newer than entry `seq`, newest first.
    fn buffered_up(&self, tx: &mut dyn ReadTx, seq: i64, want: usize) -> Result<Vec<Run>> {
        let mut page = buffered_page(
            tx,
            self.fetched,
            self.env_id,
            BufferCursor::Above(seq),
            want,
            &self.buffered,
        )?;
        page.reverse();
        Ok(page)
    }

    /// Created runs only.
    fn runs(
        &self,
        tx: &mut dyn ReadTx,
        after_seq: Option<i64>,
        before_seq: Option<i64>,
    ) -> Result<Vec<Run>> {
        let page = Page {
            size: self.want,
            after_seq,
            before_seq,
        };
        Ok(tx.list_runs(self.env_id, self.buffered.filter, page)?)
    }
}

/// The `seq` of run `id`, a list's cursor.
fn run_seq(tx: &mut dyn ReadTx, env_id: &str, id: &str) -> Result<i64> {
    Ok(tx
        .run(env_id, id)?
        .ok_or_else(|| Error::invalid(format!("The cursor '{id}' does not name a run")))?
        .seq)
}
