//! Run events (see [`crate::events`]). One writer: `seq` (the row id) follows commit order;
//! the table has no other index, so recording an event is one B-tree insert.

use rusqlite::params;
use trigr_types::Millis;

use super::SqliteTx;
use crate::events::{kind_from_text, tags_from_json, EventTx, RunEvent};
use crate::rows::to_json;
use crate::Result;

const COLUMNS: &str = "seq, env_id, run_id, batch_id, tags, kind, data, created_at";

fn read(r: &rusqlite::Row) -> Result<RunEvent> {
    Ok(RunEvent {
        seq: r.get(0)?,
        env_id: r.get(1)?,
        run_id: r.get(2)?,
        batch_id: r.get(3)?,
        tags: tags_from_json(&r.get::<_, String>(4)?)?,
        kind: kind_from_text(&r.get::<_, String>(5)?)?,
        data: r.get(6)?,
        created_at: r.get(7)?,
    })
}

impl EventTx for SqliteTx<'_> {
    fn insert_run_events(&mut self, events: &[RunEvent]) -> Result<()> {
        let mut st = self.conn.prepare_cached(
            "INSERT INTO run_events (env_id, run_id, batch_id, tags, kind, data, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for e in events {
            st.execute(params![
                e.env_id,
                e.run_id,
                e.batch_id,
                to_json(&e.tags),
                e.kind.as_str(),
                e.data,
                e.created_at
            ])?;
        }
        Ok(())
    }

    fn run_events_after(
        &mut self,
        env_id: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<RunEvent>> {
        self.all(
            &format!(
                "SELECT {COLUMNS} FROM run_events WHERE env_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3"
            ),
            params![env_id, after, limit as i64],
            read,
        )
    }

    fn last_run_event_seq(&mut self, _env_id: &str) -> Result<i64> {
        // The store-wide newest number (one index-free lookup): the environment's later
        // events are numbered above it all the same.
        Ok(self
            .first("SELECT MAX(seq) FROM run_events", [], |r| Ok(r.get(0)?))?
            .flatten()
            .unwrap_or(0))
    }

    fn run_events_pruned_through(&mut self) -> Result<i64> {
        Ok(self
            .first("SELECT seq FROM run_events_pruned WHERE id = 1", [], |r| {
                Ok(r.get(0)?)
            })?
            .unwrap_or(0))
    }

    fn prune_run_events(&mut self, before: Millis, limit: usize) -> Result<u64> {
        // The oldest events in number order, up to the first one recorded since `before`
        // (times follow numbers: one writer), and never the newest (see migration 0009).
        let oldest: Vec<(i64, Millis)> = self.all(
            "SELECT seq, created_at FROM run_events ORDER BY seq LIMIT ?1",
            params![limit as i64],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let newest = self.last_run_event_seq("")?;
        let Some(last) = oldest
            .iter()
            .take_while(|(seq, at)| *at < before && *seq < newest)
            .map(|(seq, _)| *seq)
            .last()
        else {
            return Ok(0);
        };
        let mut st = self
            .conn
            .prepare_cached("DELETE FROM run_events WHERE seq <= ?1")?;
        let n = st.execute(params![last])? as u64;
        self.conn.execute(
            "UPDATE run_events_pruned SET seq = MAX(seq, ?1) WHERE id = 1",
            params![last],
        )?;
        Ok(n)
    }
}
