//! Output streams: the streams a run declared and their chunks.

use rusqlite::params;
use trigr_types::Millis;

use super::SqliteTx;
use crate::model::OutputChunk;
use crate::rows::{self, OUTPUT_CHUNK_COLUMNS};
use crate::tx::OutputStreamTx;
use crate::Result;

impl OutputStreamTx for SqliteTx<'_> {
    fn declare_output_stream(&mut self, run_id: &str, key: &str, now: Millis) -> Result<bool> {
        let mut st = self.conn.prepare_cached(
            "INSERT INTO output_streams (run_id, stream_key, created_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (run_id, stream_key) DO NOTHING",
        )?;
        Ok(st.execute(params![run_id, key, now])? == 1)
    }

    fn output_streams(&mut self, run_id: &str) -> Result<Vec<String>> {
        self.all(
            "SELECT stream_key FROM output_streams WHERE run_id = ?1 \
             ORDER BY created_at, stream_key",
            params![run_id],
            |r| Ok(r.get(0)?),
        )
    }

    fn insert_output_chunks(&mut self, chunks: &[OutputChunk]) -> Result<u64> {
        let mut st = self.conn.prepare_cached(&format!(
            "INSERT INTO output_chunks ({OUTPUT_CHUNK_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (run_id, stream_key, idx) DO NOTHING"
        ))?;
        let mut inserted = 0;
        for c in chunks {
            inserted += st.execute(params![
                c.run_id,
                c.stream_key,
                c.index,
                c.body,
                c.created_at
            ])? as u64;
        }
        Ok(inserted)
    }

    fn last_output_chunk(&mut self, run_id: &str, key: &str) -> Result<Option<i64>> {
        Ok(self
            .first(
                "SELECT MAX(idx) FROM output_chunks WHERE run_id = ?1 AND stream_key = ?2",
                params![run_id, key],
                |r| Ok(r.get::<_, Option<i64>>(0)?),
            )?
            .flatten())
    }

    fn output_chunks(
        &mut self,
        run_id: &str,
        key: &str,
        from: i64,
        limit: usize,
    ) -> Result<Vec<OutputChunk>> {
        self.all(
            &format!(
                "SELECT {OUTPUT_CHUNK_COLUMNS} FROM output_chunks \
                 WHERE run_id = ?1 AND stream_key = ?2 AND idx >= ?3 ORDER BY idx LIMIT ?4"
            ),
            params![run_id, key, from, limit as i64],
            |r| rows::output_chunk(r),
        )
    }
}
