//! trigr-engine
