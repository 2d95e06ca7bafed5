use trigr_types::RunStatus;

/// What can go wrong in an engine command. Every variant but `Store` is the caller's doing and
/// names the problem in a sentence.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Malformed input (HTTP 400).
    #[error("{0}")]
    Invalid(String),
    /// Well-formed but not acceptable (HTTP 422).
    #[error("{0}")]
    Unprocessable(String),
    /// Unknown or invisible entity (HTTP 404).
    #[error("{0}")]
    NotFound(String),
    /// Too large (HTTP 413).
    #[error("{0}")]
    TooLarge(String),
    /// The request clashes with what another request already did (HTTP 409).
    #[error("{0}")]
    Conflict(String),
    /// The caller's lease is not the run's current one (HTTP 409).
    #[error("the lease of run {run_id} is no longer valid (the run is {status})")]
    LeaseLost { run_id: String, status: RunStatus },
    /// A durable operation does not match the journal at its position (HTTP 409,
    /// `non_determinism`).
    #[error("{0}")]
    NonDeterminism(String),
    /// An `ifVersion` guard does not hold for the run a delivery is for (HTTP 409); nothing
    /// was delivered.
    #[error("The run's version does not match ifVersion {expected}")]
    VersionMismatch {
        run_id: Option<String>,
        expected: String,
        actual: Option<String>,
    },
    /// The store failed (HTTP 500/503): not the caller's fault.
    #[error(transparent)]
    Store(#[from] trigr_store::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn invalid(msg: impl Into<String>) -> Error {
        Error::Invalid(msg.into())
    }
    pub fn unprocessable(msg: impl Into<String>) -> Error {
        Error::Unprocessable(msg.into())
    }
    pub fn not_found(msg: impl Into<String>) -> Error {
        Error::NotFound(msg.into())
    }
    pub fn run_not_found(id: &str) -> Error {
        Error::NotFound(format!("Run {id} not found"))
    }
}
