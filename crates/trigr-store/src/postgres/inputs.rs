//! Input streams: messages and consumer positions.

use trigr_types::Millis;

use super::PgTx;
use crate::model::{InputMessage, Waitpoint};
use crate::rows::{self, INPUT_MESSAGE_COLUMNS, WAITPOINT_COLUMNS};
use crate::tx::InputTx;
use crate::Result;

impl InputTx for PgTx<'_> {
    fn last_input_seq(&mut self, run_id: &str, stream_id: &str) -> Result<i64> {
        self.scalar(
            "SELECT COALESCE(MAX(seq), 0)::bigint FROM input_messages \
             WHERE run_id = $1 AND stream_id = $2",
            &[&run_id, &stream_id],
        )
    }

    fn insert_input_message(&mut self, m: &InputMessage) -> Result<()> {
        self.exec(
            &format!(
                "INSERT INTO input_messages ({INPUT_MESSAGE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
            ),
            &[
                &m.run_id,
                &m.stream_id,
                &m.seq,
                &m.data,
                &m.run_version,
                &m.created_at,
            ],
        )?;
        Ok(())
    }

    fn input_messages(
        &mut self,
        run_id: &str,
        stream_id: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<InputMessage>> {
        self.rows(
            &format!(
                "SELECT {INPUT_MESSAGE_COLUMNS} FROM input_messages \
                 WHERE run_id = $1 AND stream_id = $2 AND seq > $3 ORDER BY seq LIMIT $4"
            ),
            &[&run_id, &stream_id, &after, &(limit as i64)],
        )?
        .iter()
        .map(rows::input_message)
        .collect()
    }

    fn input_cursor(&mut self, run_id: &str, stream_id: &str, consumer: &str) -> Result<i64> {
        Ok(self
            .opt_row(
                "SELECT position FROM input_cursors \
                 WHERE run_id = $1 AND stream_id = $2 AND consumer = $3",
                &[&run_id, &stream_id, &consumer],
            )?
            .map(|r| r.try_get(0))
            .transpose()?
            .unwrap_or(0))
    }

    fn advance_input_cursor(
        &mut self,
        run_id: &str,
        stream_id: &str,
        consumer: &str,
        to: i64,
        now: Millis,
    ) -> Result<bool> {
        if to <= 0 {
            // Every position is at 0 or beyond already.
            return Ok(false);
        }
        let n = self.exec(
            "INSERT INTO input_cursors (run_id, stream_id, consumer, position, updated_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (run_id, stream_id, consumer) DO UPDATE \
             SET position = excluded.position, updated_at = excluded.updated_at \
             WHERE input_cursors.position < excluded.position",
            &[&run_id, &stream_id, &consumer, &to, &now],
        )?;
        Ok(n == 1)
    }

    fn input_waitpoints(&mut self, run_id: &str, stream_id: &str) -> Result<Vec<Waitpoint>> {
        let sql = format!(
            "SELECT {WAITPOINT_COLUMNS} FROM waitpoints WHERE owner_run_id = $1 \
             AND input_stream = $2 AND status = 'WAITING' ORDER BY seq{}",
            self.lock_or_skip()
        );
        self.rows(&sql, &[&run_id, &stream_id])?
            .iter()
            .map(rows::waitpoint)
            .collect()
    }
}
