//! Output streams: the streams a run declared and their chunks.

use trigr_types::Millis;

use super::{opt_int, sql, texts, Db, Sql};
use crate::model::OutputChunk;
use crate::rows::{self, OUTPUT_CHUNK_COLUMNS};
use crate::tx::{OutputStreamRead, OutputStreamTx};
use crate::Result;

/// How a backend stores new chunks: one row of arrays in PostgreSQL, a row each in SQLite.
pub(crate) trait ChunksNative {
    /// [`OutputStreamTx::insert_output_chunks`], for a list that is not empty.
    fn append_output_chunks(&mut self, chunks: &[OutputChunk]) -> Result<u64>;
}

static DECLARE: Sql = sql!(
    "INSERT INTO output_streams (run_id, stream_key, created_at) VALUES ($1, $2, $3) \
     ON CONFLICT (run_id, stream_key) DO NOTHING"
);
static STREAMS: Sql =
    sql!("SELECT stream_key FROM output_streams WHERE run_id = $1 ORDER BY created_at, stream_key");
static LAST_CHUNK: Sql =
    sql!("SELECT MAX(idx) FROM output_chunks WHERE run_id = $1 AND stream_key = $2");
static CHUNKS: Sql = sql!(
    "SELECT {OUTPUT_CHUNK_COLUMNS} FROM output_chunks \
     WHERE run_id = $1 AND stream_key = $2 AND idx >= $3 ORDER BY idx LIMIT $4"
);

impl<C: Db + ChunksNative> OutputStreamRead for C {
    fn output_streams(&mut self, run_id: &str) -> Result<Vec<String>> {
        texts(self, &STREAMS, &[&run_id])
    }

    fn last_output_chunk(&mut self, run_id: &str, key: &str) -> Result<Option<i64>> {
        opt_int(self, &LAST_CHUNK, &[&run_id, &key])
    }

    fn output_chunks(
        &mut self,
        run_id: &str,
        key: &str,
        from: i64,
        limit: usize,
    ) -> Result<Vec<OutputChunk>> {
        self.query(&CHUNKS, &[&run_id, &key, &from, &(limit as i64)], |r| {
            rows::output_chunk(r)
        })
    }
}

impl<C: Db + ChunksNative> OutputStreamTx for C {
    fn declare_output_stream(&mut self, run_id: &str, key: &str, now: Millis) -> Result<bool> {
        Ok(self.execute(&DECLARE, &[&run_id, &key, &now])? == 1)
    }

    fn insert_output_chunks(&mut self, chunks: &[OutputChunk]) -> Result<u64> {
        if chunks.is_empty() {
            return Ok(0);
        }
        self.append_output_chunks(chunks)
    }
}
