//! Run events (see [`crate::events`]).
//!
//! A transaction's events are kept aside and written just before it commits
//! ([`PgTx::flush_run_events`]), under a transaction-level advisory lock per environment
//! (taken in environment order, and the last lock the transaction takes, so it can close no
//! deadlock cycle). Their numbers come from a sequence while that lock is held, so the events
//! of one environment are numbered in commit order: a reader that has seen number `n` will
//! never later find a smaller one.

use trigr_types::Millis;

use super::PgTx;
use crate::events::{kind_from_text, tags_from_json, EventTx, RunEvent};
use crate::rows::to_json;
use crate::Result;

const COLUMNS: &str = "seq, env_id, run_id, batch_id, tags, kind, data, created_at";

fn read(r: &postgres::Row) -> Result<RunEvent> {
    Ok(RunEvent {
        seq: r.try_get(0)?,
        env_id: r.try_get(1)?,
        run_id: r.try_get(2)?,
        batch_id: r.try_get(3)?,
        tags: tags_from_json(&r.try_get::<_, String>(4)?)?,
        kind: kind_from_text(&r.try_get::<_, String>(5)?)?,
        data: r.try_get(6)?,
        created_at: r.try_get(7)?,
    })
}

impl PgTx<'_> {
    /// Writes the events recorded in this transaction; called right before `COMMIT`.
    pub(super) fn flush_run_events(&mut self) -> Result<()> {
        let mut events = std::mem::take(&mut self.events);
        if events.is_empty() {
            return Ok(());
        }
        // Stable: each environment's events keep their order.
        events.sort_by(|a, b| a.env_id.cmp(&b.env_id));
        let mut start = 0;
        while start < events.len() {
            let env = events[start].env_id.clone();
            let end = start
                + events[start..]
                    .iter()
                    .take_while(|e| e.env_id == env)
                    .count();
            self.exec(
                "SELECT pg_advisory_xact_lock(hashtextextended('trigr_events:' || $1, 0))",
                &[&env],
            )?;
            let group = &events[start..end];
            let runs: Vec<&str> = group.iter().map(|e| e.run_id.as_str()).collect();
            let batches: Vec<Option<&str>> = group.iter().map(|e| e.batch_id.as_deref()).collect();
            let tags: Vec<String> = group.iter().map(|e| to_json(&e.tags)).collect();
            let kinds: Vec<&str> = group.iter().map(|e| e.kind.as_str()).collect();
            let data: Vec<&str> = group.iter().map(|e| e.data.as_str()).collect();
            let created: Vec<i64> = group.iter().map(|e| e.created_at).collect();
            self.exec(
                "INSERT INTO run_events (seq, env_id, run_id, batch_id, tags, kind, data, created_at) \
                 SELECT nextval('run_events_seq'), $1, e.r, e.b, e.t, e.k, e.d, e.c FROM ( \
                   SELECT r, b, t, k, d, c FROM unnest($2::text[], $3::text[], $4::text[], \
                     $5::text[], $6::text[], $7::bigint[]) WITH ORDINALITY AS u(r, b, t, k, d, c, o) \
                   ORDER BY o) e",
                &[&env, &runs, &batches, &tags, &kinds, &data, &created],
            )?;
            start = end;
        }
        Ok(())
    }
}

impl EventTx for PgTx<'_> {
    fn insert_run_events(&mut self, events: &[RunEvent]) -> Result<()> {
        self.events.extend_from_slice(events);
        Ok(())
    }

    fn run_events_after(
        &mut self,
        env_id: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<RunEvent>> {
        self.rows(
            &format!(
                "SELECT {COLUMNS} FROM run_events WHERE env_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
            ),
            &[&env_id, &after, &(limit as i64)],
        )?
        .iter()
        .map(read)
        .collect()
    }

    fn last_run_event_seq(&mut self, env_id: &str) -> Result<i64> {
        self.scalar(
            "SELECT COALESCE(MAX(seq), 0)::bigint FROM run_events WHERE env_id = $1",
            &[&env_id],
        )
    }

    fn run_events_pruned_through(&mut self) -> Result<i64> {
        self.scalar("SELECT seq FROM run_events_pruned WHERE id = 1", &[])
    }

    fn prune_run_events(&mut self, before: Millis, limit: usize) -> Result<u64> {
        let pruned: Vec<i64> = self
            .rows(
                "DELETE FROM run_events WHERE seq IN \
                 (SELECT seq FROM run_events WHERE created_at < $1 ORDER BY seq LIMIT $2 \
                  FOR UPDATE SKIP LOCKED) RETURNING seq",
                &[&before, &(limit as i64)],
            )?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<std::result::Result<_, _>>()?;
        let Some(last) = pruned.iter().max() else {
            return Ok(0);
        };
        self.exec(
            "UPDATE run_events_pruned SET seq = GREATEST(seq, $1) WHERE id = 1",
            &[last],
        )?;
        Ok(pruned.len() as u64)
    }
}
