//! Filtered, keyset-paged list queries, built clause by clause.

use postgres::types::ToSql;

use super::Param;
use crate::model::Page;

/// A `SELECT … WHERE env_id = $1` growing one condition at a time, its parameters numbered in
/// the order they come.
pub(super) struct Filtered {
    sql: String,
    args: Vec<Box<dyn ToSql + Sync>>,
}

impl Filtered {
    /// `select` ends with a `WHERE` condition on `$1`, bound to `first`.
    pub(super) fn new(select: String, first: &str) -> Filtered {
        Filtered {
            sql: select,
            args: vec![Box::new(first.to_string())],
        }
    }

    /// Appends `template`, in which `#` stands for `value`.
    pub(super) fn cond(&mut self, template: &str, value: Box<dyn ToSql + Sync>) {
        self.args.push(value);
        let n = self.args.len();
        self.sql.push_str(&template.replace('#', &format!("${n}")));
    }

    /// Appends `template` (`… = ANY(#)`) unless `values` is empty ("any").
    pub(super) fn any_of(&mut self, template: &str, values: Vec<String>) {
        if !values.is_empty() {
            self.cond(template, Box::new(values));
        }
    }

    /// The creation-time bounds and the keyset page: newest first, or oldest first before a
    /// cursor (the caller puts such a page back in newest-first order).
    pub(super) fn page(mut self, created: (Option<i64>, Option<i64>), page: &Page) -> Filtered {
        let bounds = [
            (" AND created_at >= #", created.0),
            (" AND created_at <= #", created.1),
            (" AND seq < #", page.after_seq),
            (" AND seq > #", page.before_seq),
        ];
        for (template, value) in bounds {
            if let Some(v) = value {
                self.cond(template, Box::new(v));
            }
        }
        let order = if page.before_seq.is_some() {
            "ASC"
        } else {
            "DESC"
        };
        self.sql
            .push_str(&format!(" ORDER BY seq {order} LIMIT {}", page.size));
        self
    }

    pub(super) fn sql(&self) -> &str {
        &self.sql
    }

    pub(super) fn params(&self) -> Vec<Param<'_>> {
        self.args.iter().map(|a| a.as_ref() as Param).collect()
    }
}
