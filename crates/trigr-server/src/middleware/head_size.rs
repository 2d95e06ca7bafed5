//! The server's own limits on a request's target and headers, well below the ones hyper
//! enforces with an empty answer (`crate::serve`), so a client that goes over them learns
//! why, in JSON.

use axum::http::{HeaderMap, StatusCode, Uri};

use crate::error::{ApiError, ApiResult};

/// Longest request target (path and query), in bytes.
const MAX_URI_BYTES: usize = 16 * 1024;
/// Most bytes of header names and values in one request.
const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Refuses a request whose target or headers are over the limits. (More than 100 header
/// fields never get here: hyper refuses them, see `crate::serve`.)
pub(super) fn check(uri: &Uri, headers: &HeaderMap) -> ApiResult<()> {
    let target = uri.path_and_query().map_or(0, |p| p.as_str().len());
    if target > MAX_URI_BYTES {
        return Err(ApiError::new(
            StatusCode::URI_TOO_LONG,
            format!(
                "The request target is {target} bytes long; at most {MAX_URI_BYTES} are accepted"
            ),
        ));
    }
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if bytes > MAX_HEADER_BYTES {
        return Err(ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!(
                "The request headers are {bytes} bytes long; at most {MAX_HEADER_BYTES} are accepted"
            ),
        ));
    }
    Ok(())
}
