//! trigr-server
