//! trigr-store
