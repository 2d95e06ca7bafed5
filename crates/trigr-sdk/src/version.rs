//! Version-aware delivery (`docs/versioning.md`): [`IfVersion`] guards on input-stream sends
//! and token completions, and the [`VersionMismatchError`] a guard that does not hold raises.

use std::fmt;
use std::sync::Arc;

/// Deliver only if the run is on a matching version.
///
/// - [`IfVersion::exact`]: that version and no other.
/// - [`IfVersion::matching`]: a comparison expression the server evaluates (`>=20240815.1`,
///   `<20240901.0`, `20240815.*`, comma-joined clauses that must all hold), comparing the
///   version's parts as numbers.
/// - [`IfVersion::predicate`]: any test in Rust. The SDK reads the run's version, evaluates
///   the predicate, and sends that exact version as the guard, so the server still checks it
///   in the same transaction as the delivery: a run that moved in between is a mismatch too.
///
/// A run not yet locked to any version matches no guard.
#[derive(Clone)]
pub enum IfVersion {
    /// An exact version or an expression, sent to the server as `ifVersion`.
    Expression(String),
    /// Evaluated by the SDK against the run's version.
    Predicate(Arc<dyn Fn(&str) -> bool + Send + Sync>),
}

impl IfVersion {
    /// Exactly this version.
    pub fn exact(version: impl Into<String>) -> IfVersion {
        IfVersion::Expression(version.into())
    }

    /// A comparison expression, e.g. `">=20240815.1,<20240901.0"`.
    pub fn matching(expression: impl Into<String>) -> IfVersion {
        IfVersion::Expression(expression.into())
    }

    /// A test of the run's version.
    pub fn predicate(test: impl Fn(&str) -> bool + Send + Sync + 'static) -> IfVersion {
        IfVersion::Predicate(Arc::new(test))
    }

    /// How [`VersionMismatchError::expected_version`] names this guard.
    pub(crate) fn describe(&self) -> String {
        match self {
            IfVersion::Expression(e) => e.clone(),
            IfVersion::Predicate(_) => "<predicate>".to_string(),
        }
    }
}

impl fmt::Debug for IfVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IfVersion::Expression(e) => f.debug_tuple("Expression").field(e).finish(),
            IfVersion::Predicate(_) => f.write_str("Predicate(..)"),
        }
    }
}

impl From<&str> for IfVersion {
    fn from(v: &str) -> IfVersion {
        IfVersion::Expression(v.to_string())
    }
}

impl From<String> for IfVersion {
    fn from(v: String) -> IfVersion {
        IfVersion::Expression(v)
    }
}

/// An `ifVersion` guard did not hold, so nothing was delivered (the server answered `409`
/// with these fields, or a predicate said no).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "Version mismatch for run {}: expected {expected_version}, got {}",
    run_id.as_deref().unwrap_or("(none waiting)"),
    actual_version.as_deref().unwrap_or("no version")
)]
pub struct VersionMismatchError {
    /// The run the delivery was for (`None` when no run waits on the token).
    pub run_id: Option<String>,
    /// The guard: the version or expression given, or `<predicate>`.
    pub expected_version: String,
    /// The version the run is on (`None` before it is locked to one).
    pub actual_version: Option<String>,
}

/// The exact guard to send for `if_version`, given the run's version as read: an expression
/// goes as it is; a predicate is evaluated here and becomes that exact version.
pub(crate) fn resolve(
    if_version: &IfVersion,
    run_id: Option<&str>,
    actual: Option<&str>,
) -> Result<String, VersionMismatchError> {
    let mismatch = || VersionMismatchError {
        run_id: run_id.map(str::to_string),
        expected_version: if_version.describe(),
        actual_version: actual.map(str::to_string),
    };
    match (if_version, actual) {
        (IfVersion::Expression(e), _) => Ok(e.clone()),
        (IfVersion::Predicate(test), Some(v)) if test(v) => Ok(v.to_string()),
        (IfVersion::Predicate(_), _) => Err(mismatch()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predicates_become_exact_guards() {
        let newer = IfVersion::predicate(|v| v.starts_with("2025"));
        assert_eq!(
            resolve(&newer, Some("run_1"), Some("20250101.2")).unwrap(),
            "20250101.2"
        );
        let err = resolve(&newer, Some("run_1"), Some("20241231.9")).unwrap_err();
        assert_eq!(err.expected_version, "<predicate>");
        assert_eq!(err.actual_version.as_deref(), Some("20241231.9"));
        assert_eq!(
            err.to_string(),
            "Version mismatch for run run_1: expected <predicate>, got 20241231.9"
        );
        // No version yet: no predicate can hold.
        assert!(resolve(&IfVersion::predicate(|_| true), Some("run_1"), None).is_err());
        // Expressions are the server's to check.
        assert_eq!(
            resolve(&IfVersion::matching(">=1"), None, None).unwrap(),
            ">=1"
        );
    }
}
