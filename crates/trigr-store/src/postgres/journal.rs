//! Journals and run logs.

use super::PgTx;
use crate::model::{JournalEntry, LogEntry};
use crate::rows::{self, JOURNAL_COLUMNS, JOURNAL_FROM, LOG_COLUMNS};
use crate::tx::{JournalTx, LogTx};
use crate::Result;

impl JournalTx for PgTx<'_> {
    fn insert_journal_entry(&mut self, e: &JournalEntry) -> Result<()> {
        self.exec(
            "INSERT INTO journal (run_id, pos, kind, name, output, waitpoint_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
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

    fn journal_entry(&mut self, run_id: &str, position: i64) -> Result<Option<JournalEntry>> {
        self.opt_row(
            &format!(
                "SELECT {JOURNAL_COLUMNS} FROM {JOURNAL_FROM} WHERE j.run_id = $1 AND j.pos = $2"
            ),
            &[&run_id, &position],
        )?
        .as_ref()
        .map(rows::journal_entry)
        .transpose()
    }

    fn journal(&mut self, run_id: &str) -> Result<Vec<JournalEntry>> {
        self.rows(
            &format!(
                "SELECT {JOURNAL_COLUMNS} FROM {JOURNAL_FROM} WHERE j.run_id = $1 ORDER BY j.pos"
            ),
            &[&run_id],
        )?
        .iter()
        .map(rows::journal_entry)
        .collect()
    }

    fn runs_waiting_on(&mut self, waitpoint_id: &str) -> Result<Vec<String>> {
        self.rows(
            "SELECT DISTINCT run_id FROM journal WHERE waitpoint_id = $1 ORDER BY run_id",
            &[&waitpoint_id],
        )?
        .iter()
        .map(|r| Ok(r.try_get(0)?))
        .collect()
    }
}

impl LogTx for PgTx<'_> {
    fn insert_logs(&mut self, entries: &[LogEntry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
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

    fn logs(
        &mut self,
        run_id: &str,
        after_seq: Option<i64>,
        limit: usize,
    ) -> Result<Vec<LogEntry>> {
        self.rows(
            &format!(
                "SELECT {LOG_COLUMNS} FROM run_logs WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
            ),
            &[&run_id, &after_seq.unwrap_or(0), &(limit as i64)],
        )?
        .iter()
        .map(rows::log_entry)
        .collect()
    }
}
