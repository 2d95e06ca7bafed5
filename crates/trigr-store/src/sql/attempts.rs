//! Attempt history: the attempts of a run that ended without completing it.

use super::{sql, Db, Sql};
use crate::model::Attempt;
use crate::rows::{self, ATTEMPT_COLUMNS};
use crate::tx::{AttemptRead, AttemptTx};
use crate::Result;

static INSERT: Sql =
    sql!("INSERT INTO run_attempts ({ATTEMPT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)");
static OF_RUN: Sql =
    sql!("SELECT {ATTEMPT_COLUMNS} FROM run_attempts WHERE run_id = $1 ORDER BY number");

impl<C: Db> AttemptRead for C {
    fn attempts(&mut self, run_id: &str) -> Result<Vec<Attempt>> {
        self.query(&OF_RUN, &[&run_id], |r| rows::attempt(r))
    }
}

impl<C: Db> AttemptTx for C {
    fn insert_attempt(&mut self, a: &Attempt) -> Result<()> {
        // An attempt ends once: a second row for its number is a unique violation (a
        // conflict, see `sql::Failure`).
        self.execute(
            &INSERT,
            &[
                &a.run_id,
                &a.number,
                &a.started_at,
                &a.ended_at,
                &a.outcome.as_str(),
                &a.error,
                &a.retry_at,
            ],
        )?;
        Ok(())
    }
}
