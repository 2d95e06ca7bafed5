use super::SqliteTx;
use crate::sql::queues::{DequeueLock, NamedLock};
use crate::Result;

impl NamedLock for SqliteTx<'_> {
    fn lock_name(&mut self, _name: &str) -> Result<()> {
        // One writer thread: write transactions never run concurrently.
        Ok(())
    }
}

impl DequeueLock for SqliteTx<'_> {
    fn lock_dequeues(&mut self, _env_id: &str) -> Result<()> {
        // One writer thread: write transactions never run concurrently.
        Ok(())
    }
}
