//! Run events (see [`crate::events`]). One writer: `seq` (the row id) follows commit order;
//! the table has no other index, so recording an event is one B-tree insert.

use rusqlite::params;
use trigr_types::Millis;

use super::SqliteTx;
use crate::events::{EventRead, EventTx, RunEvent};
use crate::rows::to_json;
use crate::{sql, Result};

impl EventRead for SqliteTx<'_> {
    fn run_events_after(
        &mut self,
        env_id: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<RunEvent>> {
        sql::events::after(self, env_id, after, limit)
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
        sql::events::pruned_through(self)
    }
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

    fn prune_run_events(&mut self, before: Millis, limit: usize) -> Result<u64> {
        // Times follow numbers (one writer). The newest event is never pruned: its number is
        // the row id the next one follows (see migration 0009).
        let newest = self.last_run_event_seq("")?;
        sql::events::prune(self, before, limit, newest)
    }
}
