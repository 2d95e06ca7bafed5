//! Journals and run logs.

use super::{int, opt_int, sql, texts, Db, Sql};
use crate::model::{JournalEntry, LogEntry, Span};
use crate::rows::{self, JOURNAL_COLUMNS, JOURNAL_FROM, LOG_COLUMNS, SPAN_COLUMNS};
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
static LAST_POSITION: Sql = sql!("SELECT MAX(pos) FROM journal WHERE run_id = $1");
static RUNS_WAITING_ON: Sql =
    sql!("SELECT DISTINCT run_id FROM journal WHERE waitpoint_id = $1 ORDER BY run_id");
static LOGS: Sql =
    sql!("SELECT {LOG_COLUMNS} FROM run_logs WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3");
static SPANS: Sql =
    sql!("SELECT {SPAN_COLUMNS} FROM run_spans WHERE run_id = $1 ORDER BY seq LIMIT $2");
static SPAN_COUNT: Sql = sql!("SELECT COUNT(*) FROM run_spans WHERE run_id = $1");
static INSERT_SPAN: Sql = sql!(
    "INSERT INTO run_spans (run_id, trace_id, span_id, parent_span_id, name, kind, start_ns, \
     end_ns, status, message, attributes, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
);

impl<C: Db> JournalRead for C {
    fn journal_entry(&mut self, run_id: &str, position: i64) -> Result<Option<JournalEntry>> {
        self.query_first(&ENTRY, &[&run_id, &position], |r| rows::journal_entry(r))
    }

    fn journal(&mut self, run_id: &str) -> Result<Vec<JournalEntry>> {
        self.query(&JOURNAL, &[&run_id], |r| rows::journal_entry(r))
    }

    fn last_journal_position(&mut self, run_id: &str) -> Result<Option<i64>> {
        opt_int(self, &LAST_POSITION, &[&run_id])
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

    fn spans(&mut self, run_id: &str, limit: usize) -> Result<Vec<Span>> {
        self.query(&SPANS, &[&run_id, &(limit as i64)], |r| rows::span(r))
    }

    fn span_count(&mut self, run_id: &str) -> Result<i64> {
        int(self, &SPAN_COUNT, &[&run_id])
    }
}

impl<C: Db + LogsNative> LogTx for C {
    fn insert_logs(&mut self, entries: &[LogEntry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        self.append_logs(entries)
    }

    fn insert_spans(&mut self, spans: &[Span]) -> Result<()> {
        for s in spans {
            self.execute(
                &INSERT_SPAN,
                &[
                    &s.run_id,
                    &s.trace_id,
                    &s.span_id,
                    &s.parent_span_id,
                    &s.name,
                    &s.kind,
                    &s.start_ns,
                    &s.end_ns,
                    &s.status,
                    &s.message,
                    &s.attributes,
                    &s.created_at,
                ],
            )?;
        }
        Ok(())
    }
}
