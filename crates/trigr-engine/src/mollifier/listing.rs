//! Buffered runs in the runs list (read-fallback).
//!
//! A buffered run gets its `seq` when the drainer creates it, after every run that exists
//! now, so the list shows buffered runs as the newest, ahead of every created run, newest
//! entry first. The first page (no cursor) starts with them; a cursor naming a buffered run
//! continues through the older entries and then into the created runs; a `before` cursor
//! naming a created run comes back up through them. Filters are applied to each entry's view
//! (its status, task, tags, version, queue name, machine, batch, test flag, creation time and
//! idempotency key). A filter by schedule or by queue id alone never matches a buffered run.
//! One page reads at most [`MAX_SCAN`] entries of the buffer, whatever the filter.

use trigr_store::{BufferCursor, ReadTx, Run, RunFilter};
use trigr_types::RunStatus;

use super::fallback::{view, Fetched};
use crate::Result;

/// Most buffer entries one page reads.
pub const MAX_SCAN: usize = 1000;

/// What the buffered runs of a list must match.
pub(crate) struct ListFilter<'a> {
    pub filter: &'a RunFilter,
    /// The queue names asked for (the filter holds their ids).
    pub queue_names: &'a [String],
}

impl ListFilter<'_> {
    /// Whether a buffered run could match at all (nothing to read otherwise).
    pub fn may_match(&self) -> bool {
        let f = self.filter;
        let by_status = f.statuses.is_empty()
            || f.statuses
                .iter()
                .any(|s| matches!(s, RunStatus::Queued | RunStatus::Delayed));
        let by_queue = f.queue_ids.is_empty() || !self.queue_names.is_empty();
        by_status && by_queue && f.schedule_id.is_none()
    }

    fn matches(&self, run: &Run) -> bool {
        let f = self.filter;
        let any = |want: &[String], have: Option<&String>| {
            want.is_empty() || have.is_some_and(|h| want.contains(h))
        };
        (f.statuses.is_empty() || f.statuses.contains(&run.status))
            && any(&f.tasks, Some(&run.task_id))
            && any(&f.versions, run.version.as_ref())
            && any(self.queue_names, Some(&run.queue_name))
            && any(&f.machines, run.machine.as_ref())
            && (f.tags.is_empty() || run.tags.iter().any(|t| f.tags.contains(t)))
            && f.batch_id
                .as_ref()
                .is_none_or(|b| run.batch_id.as_ref() == Some(b))
            && f.is_test.is_none_or(|t| run.is_test == t)
            && f.created_from.is_none_or(|t| run.created_at >= t)
            && f.created_to.is_none_or(|t| run.created_at <= t)
            && f.idempotency_key.as_ref().is_none_or(|k| {
                run.idempotency_key.as_ref() == Some(k)
                    || run.idempotency_key_user.as_ref() == Some(k)
            })
    }
}

/// Up to `want` buffered runs of an environment matching `filter`, from `from` in the order
/// it reads (newest first below a place, oldest first above it).
pub(crate) fn buffered_page<T: ReadTx + ?Sized>(
    tx: &mut T,
    fetched: &Fetched,
    env_id: &str,
    from: BufferCursor,
    want: usize,
    filter: &ListFilter<'_>,
) -> Result<Vec<Run>> {
    if want == 0 || !filter.may_match() {
        return Ok(Vec::new());
    }
    let Some(env) = tx.environment(env_id)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for e in fetched.page(tx, env_id, from, MAX_SCAN as i64)? {
        let run = view(&env, &e)?;
        if filter.matches(&run) {
            out.push(run);
            if out.len() == want {
                break;
            }
        }
    }
    Ok(out)
}

/// The `seq` of the buffered entry holding `run_id`, if one does.
pub(crate) fn entry_seq<T: ReadTx + ?Sized>(
    tx: &mut T,
    fetched: &Fetched,
    env_id: &str,
    run_id: &str,
) -> Result<Option<i64>> {
    Ok(fetched.by_run(tx, env_id, run_id)?.map(|e| e.seq))
}
