//! Offset pages (`?page=<n>&perPage=<m>`, 1-based), as queues and schedules list them
//! (reference §1.9), and the `pagination` object their answers carry.

use trigr_types::wire::common::OffsetPagination;

use crate::error::ApiResult;
use crate::extract::whole_number;

/// Highest `page` a list serves, so that no offset comes near overflowing on any store.
pub const MAX_PAGE_NUMBER: u64 = 1_000_000;

/// The page asked for: `page` from 1, `per_page` from 1 to the list's maximum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OffsetPage {
    pub page: usize,
    pub per_page: usize,
}

impl OffsetPage {
    /// Reads `page` (1 when absent) and `perPage` (`default_per_page` when absent) from the
    /// query pairs; a value that is not a whole number from 1 to [`MAX_PAGE_NUMBER`] (`page`)
    /// or `max_per_page` (`perPage`) is a 400 naming it.
    pub fn from_query(
        params: &[(String, String)],
        default_per_page: usize,
        max_per_page: usize,
    ) -> ApiResult<OffsetPage> {
        let mut asked = OffsetPage {
            page: 1,
            per_page: default_per_page,
        };
        for (name, value) in params {
            match name.as_str() {
                "page" => asked.page = whole_number(name, value, 1, MAX_PAGE_NUMBER)? as usize,
                "perPage" => {
                    asked.per_page = whole_number(name, value, 1, max_per_page as u64)? as usize
                }
                _ => {}
            }
        }
        Ok(asked)
    }

    /// The `pagination` of this page of a list of `total` items.
    pub fn pagination(self, total: i64) -> OffsetPagination {
        let total_pages = (total.max(0) as usize).div_ceil(self.per_page).max(1);
        OffsetPagination {
            current_page: self.page as u64,
            total_pages: total_pages as u64,
            count: total,
        }
    }
}
