//! Types shared by every trigr crate.
//!
//! * [`RunStatus`] — the public status vocabulary of a run and its helpers;
//! * [`id`] — friendly ids (`run_…`, `batch_…`) and secret keys;
//! * [`duration`] — the `"1h30m"` duration grammar and delay/date parsing;
//! * [`packet`] — payload and output packets (`application/super+json`, `application/json`, `text/plain`);
//! * [`plan`] — workflow plans: HTTP actions with dependencies, their validation and state;
//! * [`version`] — deployment versions `YYYYMMDD.N`;
//! * [`version_guard`] — the `ifVersion` guard language (`>=20240815.1,<20240901.0`, `20240815.*`);
//! * [`RetryPolicy`] — how failed attempts are retried;
//! * [`wire`] — request and answer bodies as they are on the wire (the worker protocol).

pub mod duration;
pub mod id;
pub mod manifest;
pub mod packet;
pub mod plan;
pub mod region;
pub mod retry;
mod status;
pub mod trace;
pub mod version;
pub mod version_guard;
pub mod wire;

pub use retry::RetryPolicy;
pub use status::{RunStatus, UnknownStatus};

/// Milliseconds since the Unix epoch: the one time unit of the store and the engine.
pub type Millis = i64;

/// Formats epoch milliseconds as an RFC 3339 UTC string with milliseconds (`…T21:00:00.000Z`).
pub fn format_time(ms: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Machine presets a run may ask for.
pub const MACHINES: [&str; 7] = [
    "micro",
    "small-1x",
    "small-2x",
    "medium-1x",
    "medium-2x",
    "large-1x",
    "large-2x",
];
