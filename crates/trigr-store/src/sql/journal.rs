//! Journals and run logs.

use super::{sql, texts, Db, Sql};
use crate::model::{JournalEntry, LogEntry};
use crate::rows::{self, JOURNAL_COLUMNS, JOURNAL_FROM, LOG_COLUMNS};
use crate::tx::{JournalRead, JournalTx, LogRead, LogTx};
use crate::Result;

/// How a backend appends log lines: one row of arrays in PostgreSQL, a row each in SQLite.
pub(crate) trait LogsNative {
    /// [`LogTx::insert_logs`], for a list that is not empty.
    fn append_logs(&mut self, entries: &[LogEntry]) -> Result<()>;
}

static INSERT_ENTRY: Sql = sql!(
    "INSERT INTO journal (run_id, pos, kind, name, output, waitpoint_id, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)"
);
static ENTRY: Sql =
    sql!("SELECT {JOURNAL_COLUMNS} FROM {JOURNAL_FROM} WHERE j.run_id = $1 AND j.pos = $2");
static JOURNAL: Sql =
    sql!("SELECT {JOURNAL_COLUMNS} FROM {JOURNAL_FROM} WHERE j.run_id = $1 ORDER BY j.pos");
static RUNS_WAITING_ON: Sql =
    sql!("SELECT DISTINCT run_id FROM journal WHERE waitpoint_id = $1 ORDER BY run_id");
static LOGS: Sql =
    sql!("SELECT {LOG_COLUMNS} FROM run_logs WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3");

impl<C: Db> JournalRead for C {
    fn journal_entry(&mut self, run_id: &str, position: i64) -> Result<Option<JournalEntry>> {
        self.query_first(&ENTRY, &[&run_id, &position], |r| rows::journal_entry(r))
    }

    fn journal(&mut self, run_id: &str) -> Result<Vec<JournalEntry>> {
        self.query(&JOURNAL, &[&run_id], |r| rows::journal_entry(r))
    }

    fn runs_waiting_on(&mut self, waitpoint_id: &str) -> Result<Vec<String>> {
        texts(self, &RUNS_WAITING_ON, &[&waitpoint_id])
    }
}

impl<C: Db> JournalTx for C {
    fn insert_journal_entry(&mut self, e: &JournalEntry) -> Result<()> {
        // A position taken is a unique violation: a conflict (see `sql::Failure`).
        self.execute(
            &INSERT_ENTRY,
            &[
                &e.run_id,
                &e.position,
                &e.kind.as_str(),
                &e.name,
                &e.output,
                &e.waitpoint_id,
                &e.created_at,
            ],
        )?;
        Ok(())
    }
}

impl<C: Db + LogsNative> LogRead for C {
    fn logs(
        &mut self,
        run_id: &str,
        after_seq: Option<i64>,
        limit: usize,
    ) -> Result<Vec<LogEntry>> {
        self.query(
            &LOGS,
            &[&run_id, &after_seq.unwrap_or(0), &(limit as i64)],
            |r| rows::log_entry(r),
        )
    }
}

impl<C: Db + LogsNative> LogTx for C {
    fn insert_logs(&mut self, entries: &[LogEntry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        self.append_logs(entries)
    }
}
