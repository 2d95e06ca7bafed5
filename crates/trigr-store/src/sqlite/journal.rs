//! Run logs: a row each.

use rusqlite::params;

use super::SqliteTx;
use crate::model::LogEntry;
use crate::sql::journal::LogsNative;
use crate::Result;

impl LogsNative for SqliteTx<'_> {
    fn append_logs(&mut self, entries: &[LogEntry]) -> Result<()> {
        let mut st = self.conn.prepare_cached(
            "INSERT INTO run_logs (run_id, logged_at, level, message, fields, created_at, attempt) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for e in entries {
            st.execute(params![
                e.run_id,
                e.time,
                e.level,
                e.message,
                e.fields,
                e.created_at,
                e.attempt
            ])?;
        }
        Ok(())
    }
}
