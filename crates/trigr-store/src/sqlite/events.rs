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
        let pruned = sql::events::prune(self, before, limit, newest)?;
        if pruned < limit as u64 {
            self.blank_newest_event(newest, before)?;
        }
        Ok(pruned)
    }
}

impl SqliteTx<'_> {
    /// Once the newest event is as old as the ones pruned, it keeps only its number: it
    /// belongs to no environment any more (no reader finds it) and names no run, and readers
    /// that had not seen it take a fresh snapshot like after any pruning.
    fn blank_newest_event(&mut self, newest: i64, before: Millis) -> Result<()> {
        let blanked = self.conn.execute(
            "UPDATE run_events SET env_id = '', run_id = '', batch_id = NULL, tags = '[]', \
             data = 'null' WHERE seq = ?1 AND created_at < ?2 AND env_id <> ''",
            params![newest, before],
        )?;
        if blanked > 0 {
            self.conn.execute(
                "UPDATE run_events_pruned SET seq = ?1 WHERE id = 1 AND seq < ?1",
                params![newest],
            )?;
        }
        Ok(())
    }
}
