//! Journals and run logs.

use rusqlite::params;

use super::SqliteTx;
use crate::model::{JournalEntry, LogEntry};
use crate::rows::{self, JOURNAL_COLUMNS, JOURNAL_FROM, LOG_COLUMNS};
use crate::tx::{JournalTx, LogTx};
use crate::{Error, Result};

impl JournalTx for SqliteTx<'_> {
    fn insert_journal_entry(&mut self, e: &JournalEntry) -> Result<()> {
        let mut st = self.conn.prepare_cached(
            "INSERT INTO journal (run_id, pos, kind, name, output, waitpoint_id, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        match st.execute(params![
            e.run_id,
            e.position,
            e.kind.as_str(),
            e.name,
            e.output,
            e.waitpoint_id,
            e.created_at
        ]) {
            Ok(_) => Ok(()),
            Err(rusqlite::Error::SqliteFailure(f, m))
                if f.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(Error::Conflict(m.unwrap_or_else(|| {
                    format!("position {} of run {} is taken", e.position, e.run_id)
                })))
            }
            Err(other) => Err(other.into()),
        }
    }

    fn journal_entry(&mut self, run_id: &str, position: i64) -> Result<Option<JournalEntry>> {
        self.first(
            &format!(
                "SELECT {JOURNAL_COLUMNS} FROM {JOURNAL_FROM} WHERE j.run_id = ?1 AND j.pos = ?2"
            ),
            params![run_id, position],
            |r| rows::journal_entry(r),
        )
    }

    fn journal(&mut self, run_id: &str) -> Result<Vec<JournalEntry>> {
        self.all(
            &format!(
                "SELECT {JOURNAL_COLUMNS} FROM {JOURNAL_FROM} WHERE j.run_id = ?1 ORDER BY j.pos"
            ),
            [run_id],
            |r| rows::journal_entry(r),
        )
    }

    fn runs_waiting_on(&mut self, waitpoint_id: &str) -> Result<Vec<String>> {
        self.all(
            "SELECT DISTINCT run_id FROM journal WHERE waitpoint_id = ?1 ORDER BY run_id",
            [waitpoint_id],
            |r| Ok(r.get(0)?),
        )
    }
}

impl LogTx for SqliteTx<'_> {
    fn insert_logs(&mut self, entries: &[LogEntry]) -> Result<()> {
        let mut st = self.conn.prepare_cached(
            "INSERT INTO run_logs (run_id, logged_at, level, message, fields, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for e in entries {
            st.execute(params![
                e.run_id,
                e.time,
                e.level,
                e.message,
                e.fields,
                e.created_at
            ])?;
        }
        Ok(())
    }

    fn logs(
        &mut self,
        run_id: &str,
        after_seq: Option<i64>,
        limit: usize,
    ) -> Result<Vec<LogEntry>> {
        self.all(
            &format!(
                "SELECT {LOG_COLUMNS} FROM run_logs WHERE run_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3"
            ),
            params![run_id, after_seq.unwrap_or(0), limit as i64],
            |r| rows::log_entry(r),
        )
    }
}
