//! Run logs: one row of arrays, zipped by `unnest`.

use super::PgTx;
use crate::model::LogEntry;
use crate::sql::journal::LogsNative;
use crate::Result;

impl LogsNative for PgTx<'_> {
    fn append_logs(&mut self, entries: &[LogEntry]) -> Result<()> {
        let col =
            |f: &dyn Fn(&LogEntry) -> String| -> Vec<String> { entries.iter().map(f).collect() };
        let run_ids = col(&|e| e.run_id.clone());
        let levels = col(&|e| e.level.clone());
        let messages = col(&|e| e.message.clone());
        let times: Vec<i64> = entries.iter().map(|e| e.time).collect();
        let fields: Vec<Option<String>> = entries.iter().map(|e| e.fields.clone()).collect();
        let created: Vec<i64> = entries.iter().map(|e| e.created_at).collect();
        self.exec(
            "INSERT INTO run_logs (run_id, logged_at, level, message, fields, created_at) \
             SELECT r, t, l, m, f, c FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], \
             $6::bigint[]) WITH ORDINALITY AS u(r, t, l, m, f, c, n) ORDER BY n",
            &[&run_ids, &times, &levels, &messages, &fields, &created],
        )?;
        Ok(())
    }
}
