//! Run events (see [`crate::events`]): the statements both backends share. How events are
//! recorded and numbered differs (SQLite numbers them at once, PostgreSQL through an outbox),
//! so each backend implements [`crate::events::EventTx`] itself, with these.

use trigr_types::Millis;

use super::{int, sql, Db, Sql};
use crate::events::{kind_from_text, tags_from_json, RunEvent};
use crate::rows::Columns;
use crate::Result;

const COLUMNS: &str = "seq, env_id, run_id, batch_id, tags, kind, data, created_at";

static AFTER: Sql =
    sql!("SELECT {COLUMNS} FROM run_events WHERE env_id = $1 AND seq > $2 ORDER BY seq LIMIT $3");
static PRUNED_THROUGH: Sql = sql!("SELECT seq FROM run_events_pruned WHERE id = 1");
static OLDEST: Sql = sql!("SELECT seq, created_at FROM run_events ORDER BY seq LIMIT $1");
static DELETE_THROUGH: Sql = sql!("DELETE FROM run_events WHERE seq <= $1");
static RAISE_PRUNED: Sql = sql!("UPDATE run_events_pruned SET seq = $1 WHERE id = 1 AND seq < $1");

fn run_event(r: &impl Columns) -> Result<RunEvent> {
    Ok(RunEvent {
        seq: r.int(0)?,
        env_id: r.text(1)?,
        run_id: r.text(2)?,
        batch_id: r.opt_text(3)?,
        tags: tags_from_json(&r.text(4)?)?,
        kind: kind_from_text(&r.text(5)?)?,
        data: r.text(6)?,
        created_at: r.int(7)?,
    })
}

/// [`crate::events::EventTx::run_events_after`].
pub(crate) fn after<C: Db>(
    db: &mut C,
    env_id: &str,
    after: i64,
    limit: usize,
) -> Result<Vec<RunEvent>> {
    db.query(&AFTER, &[&env_id, &after, &(limit as i64)], |r| {
        run_event(r)
    })
}

/// [`crate::events::EventTx::run_events_pruned_through`].
pub(crate) fn pruned_through<C: Db>(db: &mut C) -> Result<i64> {
    int(db, &PRUNED_THROUGH, &[])
}

/// [`crate::events::EventTx::prune_run_events`]: the oldest events in number order, up to the
/// first one recorded since `before`, and none numbered `keep_from` or above.
pub(crate) fn prune<C: Db>(
    db: &mut C,
    before: Millis,
    limit: usize,
    keep_from: i64,
) -> Result<u64> {
    let oldest = db.query(&OLDEST, &[&(limit as i64)], |r| Ok((r.int(0)?, r.int(1)?)))?;
    let Some(last) = oldest
        .iter()
        .take_while(|(seq, at)| *at < before && *seq < keep_from)
        .map(|(seq, _)| *seq)
        .last()
    else {
        return Ok(0);
    };
    let n = db.execute(&DELETE_THROUGH, &[&last])?;
    db.execute(&RAISE_PRUNED, &[&last])?;
    Ok(n)
}
