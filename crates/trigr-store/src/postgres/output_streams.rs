//! Output streams: the streams a run declared and their chunks.

use trigr_types::Millis;

use super::PgTx;
use crate::model::OutputChunk;
use crate::rows::{self, OUTPUT_CHUNK_COLUMNS};
use crate::tx::OutputStreamTx;
use crate::Result;

impl OutputStreamTx for PgTx<'_> {
    fn declare_output_stream(&mut self, run_id: &str, key: &str, now: Millis) -> Result<bool> {
        Ok(self.exec(
            "INSERT INTO output_streams (run_id, stream_key, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (run_id, stream_key) DO NOTHING",
            &[&run_id, &key, &now],
        )? == 1)
    }

    fn output_streams(&mut self, run_id: &str) -> Result<Vec<String>> {
        self.rows(
            "SELECT stream_key FROM output_streams WHERE run_id = $1 \
             ORDER BY created_at, stream_key",
            &[&run_id],
        )?
        .iter()
        .map(|r| Ok(r.try_get(0)?))
        .collect()
    }

    fn insert_output_chunks(&mut self, chunks: &[OutputChunk]) -> Result<u64> {
        if chunks.is_empty() {
            return Ok(0);
        }
        let runs: Vec<&str> = chunks.iter().map(|c| c.run_id.as_str()).collect();
        let keys: Vec<&str> = chunks.iter().map(|c| c.stream_key.as_str()).collect();
        let indexes: Vec<i64> = chunks.iter().map(|c| c.index).collect();
        let bodies: Vec<&str> = chunks.iter().map(|c| c.body.as_str()).collect();
        let times: Vec<i64> = chunks.iter().map(|c| c.created_at).collect();
        self.exec(
            &format!(
                "INSERT INTO output_chunks ({OUTPUT_CHUNK_COLUMNS}) \
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::bigint[]) \
                 ON CONFLICT (run_id, stream_key, idx) DO NOTHING"
            ),
            &[&runs, &keys, &indexes, &bodies, &times],
        )
    }

    fn last_output_chunk(&mut self, run_id: &str, key: &str) -> Result<Option<i64>> {
        self.scalar(
            "SELECT MAX(idx) FROM output_chunks WHERE run_id = $1 AND stream_key = $2",
            &[&run_id, &key],
        )
    }

    fn output_chunks(
        &mut self,
        run_id: &str,
        key: &str,
        from: i64,
        limit: usize,
    ) -> Result<Vec<OutputChunk>> {
        self.rows(
            &format!(
                "SELECT {OUTPUT_CHUNK_COLUMNS} FROM output_chunks \
                 WHERE run_id = $1 AND stream_key = $2 AND idx >= $3 ORDER BY idx LIMIT $4"
            ),
            &[&run_id, &key, &from, &(limit as i64)],
        )?
        .iter()
        .map(rows::output_chunk)
        .collect()
    }
}
