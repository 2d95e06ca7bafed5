//! Retention deletions with lists: the ids as a JSON array, one statement for all of them.

use rusqlite::params;

use super::{to_json, SqliteTx};
use crate::sql::retention::{RetentionNative, IN_LIST};
use crate::Result;

impl RetentionNative for SqliteTx<'_> {
    fn execute_for_list(&mut self, statement: &'static str, ids: &[String]) -> Result<u64> {
        let text = statement.replace(IN_LIST, "IN (SELECT value FROM json_each(?1))");
        let mut st = self.conn.prepare_cached(&text)?;
        Ok(st.execute([to_json(&ids)])? as u64)
    }

    fn delete_tag_entries(&mut self, entries: &[(String, i64)]) -> Result<u64> {
        let mut st = self
            .conn
            .prepare_cached("DELETE FROM run_tags WHERE tag = ?1 AND run_seq = ?2")?;
        let mut deleted = 0;
        for (tag, seq) in entries {
            deleted += st.execute(params![tag, seq])? as u64;
        }
        Ok(deleted)
    }
}
