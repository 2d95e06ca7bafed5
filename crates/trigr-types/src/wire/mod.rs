//! The request and answer bodies of the HTTP API, as they are on the wire: the server writes
//! them, the SDK reads them, so both sides agree on one shape.
//!
//! * [`worker`] — the worker protocol (`docs/worker-protocol.md`): registration, dequeue,
//!   heartbeats, completions, steps, waits, logs, input acks, and every answer.
//! * [`trigger`] — the options of a trigger (`TriggerOptions`), shared by the trigger call,
//!   batch items and the child runs of a worker's waits.
//! * [`rest`] — the request bodies of the management REST API: triggers, batches, replays,
//!   metadata updates, wait tokens, queues, schedules, input streams.
//! * The answers of the management REST API, by topic: [`runs`] (a trigger, the run views,
//!   metadata, logs), [`batches`], [`tokens`], [`manage`] (queues, schedules, deployments),
//!   [`streams`] (packets, output and input streams), and what they share ([`common`]:
//!   `{"id"}`, `{"message"}`, `{"ok"}`, pagination).
//!
//! Every type is `Serialize` + `Deserialize` with camelCase field names. A field the server
//! leaves out when it has no value is an `Option` (or a list) that is skipped when empty and
//! defaults when absent; every other field is required. Unknown fields are ignored, so a
//! server may add fields without breaking older readers.

pub mod batches;
pub mod common;
pub mod manage;
pub mod rest;
pub mod runs;
pub mod streams;
pub mod tokens;
pub mod trigger;
pub mod worker;

use std::fmt;

use chrono::{DateTime, Utc};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::{format_time, Millis};

/// A point in time: an RFC 3339 UTC string with milliseconds (`2026-11-26T21:00:00.000Z`).
/// Any RFC 3339 time is read.
//
// Held as milliseconds since the Unix epoch and written by `format_time`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(value_type = String, format = DateTime, example = "2026-11-26T21:00:00.000Z")
)]
pub struct Timestamp(pub Millis);

impl Timestamp {
    /// Milliseconds since the Unix epoch.
    pub fn millis(self) -> Millis {
        self.0
    }

    /// The same instant as a `chrono` time (the epoch when out of `chrono`'s range).
    pub fn to_datetime(self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.0).unwrap_or_default()
    }
}

impl From<Millis> for Timestamp {
    fn from(ms: Millis) -> Timestamp {
        Timestamp(ms)
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(t: DateTime<Utc>) -> Timestamp {
        Timestamp(t.timestamp_millis())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_time(self.0))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_time(self.0))
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        struct Rfc3339;
        impl Visitor<'_> for Rfc3339 {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 time")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Timestamp, E> {
                DateTime::parse_from_rfc3339(v)
                    .map(|t| Timestamp(t.timestamp_millis()))
                    .map_err(|e| E::custom(format!("'{v}' is not an RFC 3339 time: {e}")))
            }
        }
        d.deserialize_str(Rfc3339)
    }
}

/// A [`RunStatus`](crate::RunStatus) field as its public name (`"EXECUTING"`), for
/// `#[serde(with = "…")]`.
pub(crate) mod run_status {
    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::RunStatus;

    pub fn serialize<S: Serializer>(status: &RunStatus, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(status.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<RunStatus, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(D::Error::custom)
    }
}

/// An optional JSON value that keeps a present `null` (`Some(Value::Null)`) apart from an
/// absent field (`None`, with `#[serde(default)]`), so a value read back writes the same JSON.
pub(crate) fn present<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_written_as_format_time_writes_them() {
        let t = Timestamp(1_795_726_800_123);
        let json = serde_json::to_value(t).unwrap();
        assert_eq!(json, serde_json::json!(format_time(1_795_726_800_123)));
        assert_eq!(serde_json::from_value::<Timestamp>(json).unwrap(), t);
        let offset: Timestamp = serde_json::from_str("\"2026-11-26T22:00:00.5+01:00\"").unwrap();
        assert_eq!(offset.to_string(), "2026-11-26T21:00:00.500Z");
        assert!(serde_json::from_str::<Timestamp>("\"yesterday\"").is_err());
        assert!(serde_json::from_str::<Timestamp>("12").is_err());
    }
}
