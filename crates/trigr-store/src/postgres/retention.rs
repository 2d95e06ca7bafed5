//! Retention deletions with lists: the values travel as arrays.

use super::PgTx;
use crate::sql::retention::{RetentionNative, IN_LIST};
use crate::Result;

impl RetentionNative for PgTx<'_> {
    fn execute_for_list(&mut self, statement: &'static str, ids: &[String]) -> Result<u64> {
        let text = statement.replace(IN_LIST, "= ANY($1)");
        self.exec(&text, &[&ids])
    }

    fn delete_tag_entries(&mut self, entries: &[(String, i64)]) -> Result<u64> {
        let (tags, seqs): (Vec<&str>, Vec<i64>) =
            entries.iter().map(|(t, s)| (t.as_str(), *s)).unzip();
        self.exec(
            "DELETE FROM run_tags USING unnest($1::text[], $2::bigint[]) AS u(tag, seq) \
             WHERE run_tags.tag = u.tag AND run_tags.run_seq = u.seq",
            &[&tags, &seqs],
        )
    }
}
