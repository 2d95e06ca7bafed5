//! trigr-cli
