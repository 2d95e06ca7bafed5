//! Input streams: messages and consumer positions.

use trigr_types::Millis;

use super::{int, sql, Db, Sql};
use crate::model::{InputMessage, Waitpoint};
use crate::rows::{self, INPUT_MESSAGE_COLUMNS, WAITPOINT_COLUMNS};
use crate::tx::{InputRead, InputTx};
use crate::Result;

static LAST_SEQ: Sql =
    sql!("SELECT COALESCE(MAX(seq), 0) FROM input_messages WHERE run_id = $1 AND stream_id = $2");
static INSERT: Sql =
    sql!("INSERT INTO input_messages ({INPUT_MESSAGE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)");
static MESSAGES: Sql = sql!(
    "SELECT {INPUT_MESSAGE_COLUMNS} FROM input_messages \
     WHERE run_id = $1 AND stream_id = $2 AND seq > $3 ORDER BY seq LIMIT $4"
);
static CURSOR: Sql = sql!(
    "SELECT position FROM input_cursors WHERE run_id = $1 AND stream_id = $2 AND consumer = $3"
);
static ADVANCE_CURSOR: Sql = sql!(
    "INSERT INTO input_cursors (run_id, stream_id, consumer, position, updated_at) \
     VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (run_id, stream_id, consumer) DO UPDATE \
     SET position = excluded.position, updated_at = excluded.updated_at \
     WHERE input_cursors.position < excluded.position"
);
static WAITPOINTS: Sql = sql!(SkipLocked:
    "SELECT {WAITPOINT_COLUMNS} FROM waitpoints WHERE owner_run_id = $1 \
     AND input_stream = $2 AND status = 'WAITING' ORDER BY seq"
);

impl<C: Db> InputRead for C {
    fn last_input_seq(&mut self, run_id: &str, stream_id: &str) -> Result<i64> {
        int(self, &LAST_SEQ, &[&run_id, &stream_id])
    }

    fn input_messages(
        &mut self,
        run_id: &str,
        stream_id: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<InputMessage>> {
        self.query(
            &MESSAGES,
            &[&run_id, &stream_id, &after, &(limit as i64)],
            |r| rows::input_message(r),
        )
    }

    fn input_cursor(&mut self, run_id: &str, stream_id: &str, consumer: &str) -> Result<i64> {
        int(self, &CURSOR, &[&run_id, &stream_id, &consumer])
    }

    fn input_waitpoints(&mut self, run_id: &str, stream_id: &str) -> Result<Vec<Waitpoint>> {
        self.query(&WAITPOINTS, &[&run_id, &stream_id], |r| rows::waitpoint(r))
    }
}

impl<C: Db> InputTx for C {
    fn insert_input_message(&mut self, m: &InputMessage) -> Result<()> {
        self.execute(
            &INSERT,
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
        let n = self.execute(
            &ADVANCE_CURSOR,
            &[&run_id, &stream_id, &consumer, &to, &now],
        )?;
        Ok(n == 1)
    }
}
