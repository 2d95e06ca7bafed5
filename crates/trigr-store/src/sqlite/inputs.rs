//! Input streams: messages and consumer positions.

use rusqlite::params;
use trigr_types::Millis;

use super::SqliteTx;
use crate::model::{InputMessage, Waitpoint};
use crate::rows::{self, INPUT_MESSAGE_COLUMNS, WAITPOINT_COLUMNS};
use crate::tx::InputTx;
use crate::Result;

impl InputTx for SqliteTx<'_> {
    fn last_input_seq(&mut self, run_id: &str, stream_id: &str) -> Result<i64> {
        Ok(self
            .first(
                "SELECT COALESCE(MAX(seq), 0) FROM input_messages WHERE run_id = ?1 AND stream_id = ?2",
                params![run_id, stream_id],
                |r| Ok(r.get(0)?),
            )?
            .unwrap_or(0))
    }

    fn insert_input_message(&mut self, m: &InputMessage) -> Result<()> {
        let mut st = self.conn.prepare_cached(&format!(
            "INSERT INTO input_messages ({INPUT_MESSAGE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
        ))?;
        st.execute(params![
            m.run_id,
            m.stream_id,
            m.seq,
            m.data,
            m.run_version,
            m.created_at
        ])?;
        Ok(())
    }

    fn input_messages(
        &mut self,
        run_id: &str,
        stream_id: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<InputMessage>> {
        self.all(
            &format!(
                "SELECT {INPUT_MESSAGE_COLUMNS} FROM input_messages \
                 WHERE run_id = ?1 AND stream_id = ?2 AND seq > ?3 ORDER BY seq LIMIT ?4"
            ),
            params![run_id, stream_id, after, limit as i64],
            |r| rows::input_message(r),
        )
    }

    fn input_cursor(&mut self, run_id: &str, stream_id: &str, consumer: &str) -> Result<i64> {
        Ok(self
            .first(
                "SELECT position FROM input_cursors \
                 WHERE run_id = ?1 AND stream_id = ?2 AND consumer = ?3",
                params![run_id, stream_id, consumer],
                |r| Ok(r.get(0)?),
            )?
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
        let mut st = self.conn.prepare_cached(
            "INSERT INTO input_cursors (run_id, stream_id, consumer, position, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (run_id, stream_id, consumer) DO UPDATE \
             SET position = excluded.position, updated_at = excluded.updated_at \
             WHERE input_cursors.position < excluded.position",
        )?;
        Ok(st.execute(params![run_id, stream_id, consumer, to, now])? == 1)
    }

    fn input_waitpoints(&mut self, run_id: &str, stream_id: &str) -> Result<Vec<Waitpoint>> {
        self.all(
            &format!(
                "SELECT {WAITPOINT_COLUMNS} FROM waitpoints WHERE owner_run_id = ?1 \
                 AND input_stream = ?2 AND status = 'WAITING' ORDER BY seq"
            ),
            params![run_id, stream_id],
            |r| rows::waitpoint(r),
        )
    }
}
