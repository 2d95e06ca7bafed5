//! Output stream chunks: a row each.

use rusqlite::params;

use super::SqliteTx;
use crate::model::OutputChunk;
use crate::rows::OUTPUT_CHUNK_COLUMNS;
use crate::sql::output_streams::ChunksNative;
use crate::Result;

impl ChunksNative for SqliteTx<'_> {
    fn append_output_chunks(&mut self, chunks: &[OutputChunk]) -> Result<u64> {
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
}
