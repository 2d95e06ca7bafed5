//! What the answers of the management REST API share: the small answers of actions
//! (`{"id"}`, `{"message"}`, `{"ok"}`) and the `pagination` objects of lists, cursor pages
//! (runs, tokens) and offset pages (queues, schedules; reference §1.9).

use serde::{Deserialize, Serialize};

/// `{"id"}`: the run, schedule, key or batch acted on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Id {
    pub id: String,
}

/// `{"message"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Message {
    pub message: String,
}

/// `{"ok": true}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OkBody {
    pub ok: bool,
}

/// `pagination` of a cursor-paged list: the cursors of the next and previous pages.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CursorPagination {
    /// The next page's `page[after]`, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub next: Option<String>,
    /// The previous page's `page[before]`, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub previous: Option<String>,
}

/// `pagination` of an offset-paged list (`?page=<n>&perPage=<m>`, 1-based).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct OffsetPagination {
    pub current_page: u64,
    /// At least 1.
    pub total_pages: u64,
    /// Items over all pages.
    pub count: i64,
}

/// An empty `pagination`, for a list that is never paged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NoPagination {}
