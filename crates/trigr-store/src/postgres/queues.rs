//! Dequeues of one environment are serialized across servers by a transaction-level advisory
//! lock on the environment id; other named locks are advisory locks on their names.

use super::PgTx;
use crate::sql::queues::{DequeueLock, NamedLock};
use crate::Result;

impl NamedLock for PgTx<'_> {
    fn lock_name(&mut self, name: &str) -> Result<()> {
        // Names carry a prefix (`env_vars:`, `ai_tools:`), so they do not meet the bare
        // environment ids of the dequeue lock.
        self.exec(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            &[&name],
        )?;
        Ok(())
    }
}

impl DequeueLock for PgTx<'_> {
    fn lock_dequeues(&mut self, env_id: &str) -> Result<()> {
        self.exec(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            &[&env_id],
        )?;
        Ok(())
    }
}
