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
        let attempts: Vec<i64> = entries.iter().map(|e| e.attempt).collect();
        self.exec(
            "INSERT INTO run_logs (run_id, logged_at, level, message, fields, created_at, attempt) \
             SELECT r, t, l, m, f, c, a FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], \
             $6::bigint[], $7::bigint[]) WITH ORDINALITY AS u(r, t, l, m, f, c, a, n) ORDER BY n",
            &[&run_ids, &times, &levels, &messages, &fields, &created, &attempts],
        )?;
        Ok(())
    }
}
