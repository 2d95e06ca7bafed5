//! Offset pages (`?page=<n>&perPage=<m>`, 1-based), as queues and schedules list them
//! (reference §1.9), and the `pagination` object their answers carry.

use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
pub struct OffsetParams {
    page: Option<usize>,
    #[serde(rename = "perPage")]
    per_page: Option<usize>,
}

impl OffsetParams {
    /// `(page, per_page)`: page 1 when absent, `per_page` clamped to `1..=max`.
    pub fn resolve(&self, default_per_page: usize, max: usize) -> (usize, usize) {
        let page = self.page.unwrap_or(1).max(1);
        let per_page = self.per_page.unwrap_or(default_per_page).clamp(1, max);
        (page, per_page)
    }
}

/// A page's answer: `{"data": …, "pagination": {"currentPage", "totalPages", "count"}}`.
pub fn page_json(data: Vec<Value>, page: usize, per_page: usize, total: i64) -> Value {
    let total_pages = (total.max(0) as usize).div_ceil(per_page).max(1);
    json!({
        "data": data,
        "pagination": { "currentPage": page, "totalPages": total_pages, "count": total },
    })
}
