//! Output stream chunks: one row of arrays, zipped by `unnest`.

use super::PgTx;
use crate::model::OutputChunk;
use crate::rows::OUTPUT_CHUNK_COLUMNS;
use crate::sql::output_streams::ChunksNative;
use crate::Result;

impl ChunksNative for PgTx<'_> {
    fn append_output_chunks(&mut self, chunks: &[OutputChunk]) -> Result<u64> {
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
}
