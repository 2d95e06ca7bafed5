//! Which runs a realtime subscription follows, and what they are now: the snapshot an SSE
//! stream starts from (with the newest event number it covers) and the rows of an Electric
//! shape. Both read here, through the engine, in one read-only transaction.

use trigr_store::{Page, ReadTx, Run, RunEvent, RunFilter};
use trigr_types::Millis;

use crate::mollifier::fallback::{Fetched, Want};
use crate::{Engine, Result};

/// The runs a subscription follows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    Run(String),
    Batch(String),
    /// Runs carrying any of `tags` (every one of them when `all`), created at or after
    /// `since`: the newest `limit`, newest first.
    Tags {
        tags: Vec<String>,
        all: bool,
        since: Option<Millis>,
        limit: usize,
    },
}

impl Selection {
    /// Whether an event is about a run of the selection.
    pub fn matches(&self, e: &RunEvent) -> bool {
        match self {
            Selection::Run(id) => &e.run_id == id,
            Selection::Batch(id) => e.batch_id.as_deref() == Some(id),
            Selection::Tags {
                tags, all: false, ..
            } => e.tags.iter().any(|t| tags.contains(t)),
            Selection::Tags {
                tags, all: true, ..
            } => tags.iter().all(|t| e.tags.contains(t)),
        }
    }

    /// The selected runs, or `None` when the named run or batch does not exist.
    fn read(
        &self,
        tx: &mut dyn ReadTx,
        fetched: &Fetched,
        env_id: &str,
    ) -> Result<Option<Selected>> {
        let selected = match self {
            Selection::Run(id) => {
                // A buffered run is followed from its view; its events start once created.
                let run = match tx.run(env_id, id)? {
                    Some(run) => Some(run),
                    None => crate::mollifier::fallback::buffered_run(tx, fetched, env_id, id)?,
                };
                run.map(|run| Selected {
                    runs: vec![run],
                    batch_size: None,
                })
            }
            Selection::Batch(id) => match tx.batch(env_id, id)? {
                Some(b) => Some(Selected {
                    runs: crate::mollifier::fallback::batch_runs(tx, fetched, env_id, id)?,
                    batch_size: Some(b.run_count),
                }),
                None => None,
            },
            Selection::Tags {
                tags,
                all,
                since,
                limit,
            } => {
                let filter = RunFilter {
                    tags: tags.clone(),
                    created_from: *since,
                    ..Default::default()
                };
                let page = Page {
                    size: *limit,
                    after_seq: None,
                    before_seq: None,
                };
                let mut runs = tx.list_runs(env_id, &filter, page)?;
                if *all {
                    runs.retain(|r| tags.iter().all(|t| r.tags.contains(t)));
                }
                Some(Selected {
                    runs,
                    batch_size: None,
                })
            }
        };
        Ok(selected)
    }
}

/// The runs of a [`Selection`] at one moment.
#[derive(Clone, Debug)]
pub struct Selected {
    pub runs: Vec<Run>,
    /// A batch's expected number of runs.
    pub batch_size: Option<i64>,
}

/// What a realtime stream knows when it starts.
#[derive(Clone, Debug)]
pub struct StreamStart {
    /// `None`: the named run or batch does not exist.
    pub selected: Option<Selected>,
    /// The environment's newest event number when the runs were read.
    pub seq: i64,
    /// Events up to this number are no longer kept.
    pub pruned_through: i64,
}

impl Engine {
    /// The buffered entries a selection may name, when the buffer is outside the store.
    async fn fetch_for(&self, env_id: &str, selection: &Selection) -> Fetched {
        match selection {
            Selection::Run(run_id) => self.fetch_buffered(Want::Run { env_id, run_id }).await,
            Selection::Batch(batch_id) => {
                self.fetch_buffered(Want::Batch { env_id, batch_id }).await
            }
            Selection::Tags { .. } => Fetched::default(),
        }
    }

    /// The runs a stream starts from and the newest event number their state covers. Events
    /// committed before are numbered first (PostgreSQL numbers them after their commit), so
    /// the stream can follow on from `seq` without a gap.
    pub async fn stream_start(&self, env_id: &str, selection: &Selection) -> Result<StreamStart> {
        crate::realtime::sequence(&self.store).await?;
        let fetched = self.fetch_for(env_id, selection).await;
        let (env_id, selection) = (env_id.to_string(), selection.clone());
        self.read(move |tx| {
            Ok(StreamStart {
                selected: selection.read(tx, &fetched, &env_id)?,
                seq: tx.last_run_event_seq(&env_id)?,
                pruned_through: tx.run_events_pruned_through()?,
            })
        })
        .await
    }

    /// Live run events of the environment from now on (see
    /// [`crate::realtime::Realtime::subscribe`]): subscribe *before* reading a start or a
    /// backlog.
    pub async fn subscribe_events(
        &self,
        env_id: &str,
    ) -> Result<tokio::sync::broadcast::Receiver<std::sync::Arc<crate::realtime::LiveEvent>>> {
        self.realtime.subscribe(env_id).await
    }

    /// The environment's stored events after number `after`, at most
    /// [`crate::realtime::PAGE`].
    pub async fn events_after(&self, env_id: &str, after: i64) -> Result<Vec<RunEvent>> {
        let env_id = env_id.to_string();
        self.read(move |tx| Ok(tx.run_events_after(&env_id, after, crate::realtime::PAGE)?))
            .await
    }

    /// The selected runs with the output streams each has written, or `None` when the named
    /// run or batch does not exist.
    pub async fn selected_runs_with_streams(
        &self,
        env_id: &str,
        selection: &Selection,
    ) -> Result<Option<Vec<(Run, Vec<String>)>>> {
        let fetched = self.fetch_for(env_id, selection).await;
        let (env_id, selection) = (env_id.to_string(), selection.clone());
        self.read(move |tx| {
            let Some(selected) = selection.read(tx, &fetched, &env_id)? else {
                return Ok(None);
            };
            let mut out = Vec::with_capacity(selected.runs.len());
            for run in selected.runs {
                let streams = tx.output_streams(&run.id)?;
                out.push((run, streams));
            }
            Ok(Some(out))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trigr_store::RunEventKind;

    fn event(run: &str, batch: Option<&str>, tags: &[&str]) -> RunEvent {
        RunEvent {
            seq: 1,
            env_id: "env".into(),
            run_id: run.into(),
            batch_id: batch.map(String::from),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            kind: RunEventKind::Status,
            data: "{}".into(),
            created_at: 0,
        }
    }

    fn tags(all: bool) -> Selection {
        Selection::Tags {
            tags: vec!["a".into(), "b".into()],
            all,
            since: None,
            limit: 10,
        }
    }

    #[test]
    fn a_selection_matches_the_events_of_its_runs() {
        assert!(Selection::Run("run_1".into()).matches(&event("run_1", None, &[])));
        assert!(!Selection::Run("run_1".into()).matches(&event("run_2", None, &[])));
        assert!(Selection::Batch("batch_1".into()).matches(&event("run_2", Some("batch_1"), &[])));
        assert!(!Selection::Batch("batch_1".into()).matches(&event("run_2", None, &[])));
        assert!(tags(false).matches(&event("run_3", None, &["b"])));
        assert!(!tags(true).matches(&event("run_3", None, &["b"])));
        assert!(tags(true).matches(&event("run_3", None, &["b", "a", "c"])));
        assert!(!tags(false).matches(&event("run_3", None, &["c"])));
    }
}
