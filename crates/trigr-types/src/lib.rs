//! trigr-types
