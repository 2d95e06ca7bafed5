//! Debounce keys: the run each key of a task in an environment coalesces into.

use trigr_types::Millis;

use super::{sql, Db, Sql};
use crate::rows::Columns;
use crate::tx::DebounceTx;
use crate::Result;

static RUN_ID: Sql = sql!(Update:
    "SELECT run_id FROM debounce_keys WHERE env_id = $1 AND task_id = $2 AND debounce_key = $3"
);
static CLAIM: Sql = sql!(
    "INSERT INTO debounce_keys (env_id, task_id, debounce_key, run_id, created_at) \
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING"
);
static MOVE: Sql = sql!(
    "UPDATE debounce_keys SET run_id = $5, created_at = $6 \
     WHERE env_id = $1 AND task_id = $2 AND debounce_key = $3 AND run_id = $4"
);

impl<C: Db> DebounceTx for C {
    fn debounce_run_id(
        &mut self,
        env_id: &str,
        task_id: &str,
        key: &str,
    ) -> Result<Option<String>> {
        self.query_first(&RUN_ID, &[&env_id, &task_id, &key], |r| r.text(0))
    }

    fn claim_debounce_key(
        &mut self,
        env_id: &str,
        task_id: &str,
        key: &str,
        run_id: &str,
        now: Millis,
    ) -> Result<bool> {
        let n = self.execute(&CLAIM, &[&env_id, &task_id, &key, &run_id, &now])?;
        Ok(n == 1)
    }

    fn move_debounce_key(
        &mut self,
        env_id: &str,
        task_id: &str,
        key: &str,
        old_run_id: &str,
        run_id: &str,
        now: Millis,
    ) -> Result<bool> {
        let n = self.execute(
            &MOVE,
            &[&env_id, &task_id, &key, &old_run_id, &run_id, &now],
        )?;
        Ok(n == 1)
    }
}
