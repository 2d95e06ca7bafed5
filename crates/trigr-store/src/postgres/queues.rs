//! Dequeues of one environment are serialized across servers by a transaction-level advisory
//! lock on the environment id.

use super::PgTx;
use crate::sql::queues::DequeueLock;
use crate::Result;

impl DequeueLock for PgTx<'_> {
    fn lock_dequeues(&mut self, env_id: &str) -> Result<()> {
        self.exec(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            &[&env_id],
        )?;
        Ok(())
    }
}
