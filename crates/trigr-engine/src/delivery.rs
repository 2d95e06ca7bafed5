//! What deliveries of data to a running task share (wait-token completions and input-stream
//! sends): the `ifVersion` guard and the size limit.

use trigr_store::Run;
use trigr_types::version_guard::VersionGuard;

use crate::{Error, Result};

/// A parsed guard and the text it was given as (reported back on a mismatch).
pub(crate) type Guard = (VersionGuard, String);

/// Parses an `ifVersion` guard; a malformed one is [`Error::Invalid`] naming the bad part.
pub(crate) fn parse_guard(if_version: Option<String>) -> Result<Option<Guard>> {
    match if_version {
        None => Ok(None),
        Some(expr) => {
            let guard = VersionGuard::parse(&expr).map_err(|e| Error::invalid(e.to_string()))?;
            Ok(Some((guard, expr)))
        }
    }
}

/// The mismatch of a guard against `run` (`None`: no run to deliver to).
pub(crate) fn mismatch(expr: &str, run: Option<&Run>) -> Error {
    Error::VersionMismatch {
        run_id: run.map(|r| r.id.clone()),
        expected: expr.to_string(),
        actual: run.and_then(|r| r.version.clone()),
    }
}

/// Data of `len` bytes must fit in `max`.
pub(crate) fn check_size(what: &str, len: usize, max: usize) -> Result<()> {
    if len > max {
        return Err(Error::TooLarge(format!(
            "{what} is {len} bytes, over the limit of {max} bytes"
        )));
    }
    Ok(())
}
