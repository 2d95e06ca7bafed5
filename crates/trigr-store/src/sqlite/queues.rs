use super::SqliteTx;
use crate::sql::queues::DequeueLock;
use crate::Result;

impl DequeueLock for SqliteTx<'_> {
    fn lock_dequeues(&mut self, _env_id: &str) -> Result<()> {
        // One writer thread: write transactions never run concurrently.
        Ok(())
    }
}
