//! Run events (see [`crate::events`]).
//!
//! A transaction's events are written to an outbox just before it commits
//! ([`PgTx::flush_run_events`]), without any lock, so recording events never makes writers
//! take turns. A sequencer ([`EventTx::sequence_run_events`]) then moves committed outbox
//! rows into `run_events`, numbering them from a sequence in outbox order. Sequencers hold one
//! advisory lock until they commit, so each numbers only after the previous one's numbers are
//! visible: a reader that has seen number `n` never later finds a smaller one. Per run,
//! outbox order is commit order (writers of one run hold its row lock through their commit).

use trigr_types::Millis;

use super::PgTx;
use crate::events::{EventRead, EventTx, RunEvent};
use crate::rows::to_json;
use crate::{sql, Result};

/// Key of the advisory lock sequencers take turns with ("trigr_ev").
const SEQUENCER_LOCK: i64 = 0x7472_6967_725f_6576;

impl PgTx<'_> {
    /// Writes the events recorded in this transaction to the outbox; called right before
    /// `COMMIT`. No lock: the numbering happens later ([`EventTx::sequence_run_events`]).
    pub(super) fn flush_run_events(&mut self) -> Result<()> {
        let events = std::mem::take(&mut self.events);
        if events.is_empty() {
            return Ok(());
        }
        let col =
            |f: &dyn Fn(&RunEvent) -> String| -> Vec<String> { events.iter().map(f).collect() };
        let envs = col(&|e| e.env_id.clone());
        let runs = col(&|e| e.run_id.clone());
        let tags = col(&|e| to_json(&e.tags));
        let kinds = col(&|e| e.kind.as_str().to_string());
        let data = col(&|e| e.data.clone());
        let batches: Vec<Option<&str>> = events.iter().map(|e| e.batch_id.as_deref()).collect();
        let created: Vec<i64> = events.iter().map(|e| e.created_at).collect();
        self.exec(
            "INSERT INTO run_events_outbox (env_id, run_id, batch_id, tags, kind, data, created_at) \
             SELECT v, r, b, t, k, d, c FROM unnest($1::text[], $2::text[], $3::text[], \
               $4::text[], $5::text[], $6::text[], $7::bigint[]) WITH ORDINALITY AS u(v, r, b, t, k, d, c, o) \
             ORDER BY o",
            &[&envs, &runs, &batches, &tags, &kinds, &data, &created],
        )?;
        Ok(())
    }
}

impl EventRead for PgTx<'_> {
    fn run_events_after(
        &mut self,
        env_id: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<RunEvent>> {
        sql::events::after(self, env_id, after, limit)
    }

    fn last_run_event_seq(&mut self, env_id: &str) -> Result<i64> {
        self.scalar(
            "SELECT COALESCE(MAX(seq), 0)::bigint FROM run_events WHERE env_id = $1",
            &[&env_id],
        )
    }

    fn run_events_pruned_through(&mut self) -> Result<i64> {
        sql::events::pruned_through(self)
    }
}

impl EventTx for PgTx<'_> {
    fn insert_run_events(&mut self, events: &[RunEvent]) -> Result<()> {
        self.events.extend_from_slice(events);
        Ok(())
    }

    fn sequence_run_events(&mut self, limit: usize) -> Result<u64> {
        // One sequencer at a time, until it commits.
        self.exec("SELECT pg_advisory_xact_lock($1)", &[&SEQUENCER_LOCK])?;
        self.exec(
            "WITH moved AS ( \
               DELETE FROM run_events_outbox WHERE id IN \
                 (SELECT id FROM run_events_outbox ORDER BY id LIMIT $1) \
               RETURNING id, env_id, run_id, batch_id, tags, kind, data, created_at) \
             INSERT INTO run_events (seq, env_id, run_id, batch_id, tags, kind, data, created_at) \
             SELECT nextval('run_events_seq'), m.env_id, m.run_id, m.batch_id, m.tags, m.kind, \
               m.data, m.created_at FROM (SELECT * FROM moved ORDER BY id) m",
            &[&(limit as i64)],
        )
    }

    fn prune_run_events(&mut self, before: Millis, limit: usize) -> Result<u64> {
        // Numbers come from a sequence, never reused: the newest event may go too.
        sql::events::prune(self, before, limit, i64::MAX)
    }
}
