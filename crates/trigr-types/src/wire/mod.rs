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
//! * [`ai`] — the AI tools API: tool definitions made from tasks and their exports in the
//!   shapes the LLM APIs take.
//! * [`kv`] — the environment's key-value APIs, requests and answers: the cache and the
//!   environment's metadata store.
//! * [`env_vars`] — environment variables: Trigger.dev's `envvars` bodies and what tasks read.
//! * [`cli`] — the official `trigger.dev` CLI's login calls: `whoami`, the environment's key.
//! * [`dev`] — the official Trigger.dev CLI's dev worker: builds, the snapshot chain, attempts
//!   and the waits of its tasks.
//!
//! Every type is `Serialize` + `Deserialize` with camelCase field names. A field the server
//! leaves out when it has no value is an `Option` (or a list) that is skipped when empty and
//! defaults when absent; every other field is required. Unknown fields are ignored, so a
//! server may add fields without breaking older readers.

pub mod ai;
pub mod batches;
pub mod cli;
pub mod common;
pub mod dev;
pub mod env_vars;
pub mod kv;
pub mod manage;
pub mod otlp;
pub mod rest;
pub mod runs;
pub mod spans;
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

/// An optional member that may be left out but is never `null`: with `#[serde(default,
/// deserialize_with = "given")]` an absent member is `None` and a `null` one is refused, as
/// the document (`nullable = false`) says.
pub(crate) fn given<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// Members whose type is a struct, read from JSON objects only. serde reads a struct from an
/// array as well (`[null, null]` fills its first two fields), which would let a client send
/// what the document says is invalid and get it accepted; `#[serde(deserialize_with =
/// "object::…")]` on such a member refuses anything but an object (or `null` for an option).
pub(crate) mod object {
    use std::fmt;
    use std::marker::PhantomData;

    use serde::de::value::MapAccessDeserializer;
    use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
    use serde::{Deserialize, Deserializer};

    struct Only<T>(PhantomData<T>);

    impl<'de, T: Deserialize<'de>> Visitor<'de> for Only<T> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object")
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
            T::deserialize(MapAccessDeserializer::new(map))
        }
    }

    impl<'de, T: Deserialize<'de>> DeserializeSeed<'de> for Only<T> {
        type Value = T;

        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
            d.deserialize_map(self)
        }
    }

    /// A struct member.
    pub fn one<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<T, D::Error> {
        d.deserialize_map(Only(PhantomData))
    }

    /// A boxed struct member.
    pub fn boxed<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Box<T>, D::Error> {
        one(d).map(Box::new)
    }

    struct Optional<T>(PhantomData<T>);

    impl<'de, T: Deserialize<'de>> Visitor<'de> for Optional<T> {
        type Value = Option<T>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object or null")
        }

        fn visit_none<E>(self) -> Result<Option<T>, E> {
            Ok(None)
        }

        fn visit_unit<E>(self) -> Result<Option<T>, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
            one(d).map(Some)
        }
    }

    /// An optional struct member (`null` is none).
    pub fn option<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Option<T>, D::Error> {
        d.deserialize_option(Optional(PhantomData))
    }

    struct List<T>(PhantomData<T>);

    impl<'de, T: Deserialize<'de>> Visitor<'de> for List<T> {
        type Value = Vec<T>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array of objects")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            // The hint is the client's; the list grows with what actually arrives.
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
            while let Some(item) = seq.next_element_seed(Only(PhantomData))? {
                out.push(item);
            }
            Ok(out)
        }
    }

    /// A list of structs.
    pub fn list<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
        d.deserialize_seq(List(PhantomData))
    }
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

    #[derive(Debug, Deserialize, PartialEq)]
    struct Inner {
        #[serde(default)]
        a: Option<i64>,
        #[serde(default)]
        b: Option<i64>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Outer {
        #[serde(default, deserialize_with = "object::option")]
        maybe: Option<Inner>,
        #[serde(default, deserialize_with = "object::list")]
        many: Vec<Inner>,
        #[serde(deserialize_with = "object::one")]
        one: Inner,
    }

    #[test]
    fn struct_members_are_read_from_objects_only() {
        let ok: Outer =
            serde_json::from_str(r#"{"maybe": null, "many": [{"a": 1}], "one": {"b": 2}}"#)
                .unwrap();
        assert_eq!(ok.maybe, None);
        assert_eq!(
            ok.many,
            vec![Inner {
                a: Some(1),
                b: None
            }]
        );
        assert_eq!(
            ok.one,
            Inner {
                a: None,
                b: Some(2)
            }
        );
        let absent: Outer = serde_json::from_str(r#"{"one": {}}"#).unwrap();
        assert_eq!((absent.maybe, absent.many.len()), (None, 0));
        // serde alone would read each of these arrays as an `Inner`.
        for bad in [
            r#"{"one": [null, null]}"#,
            r#"{"one": {}, "maybe": [1]}"#,
            r#"{"one": {}, "many": [[1, 2]]}"#,
            r#"{"one": {}, "many": {"a": 1}}"#,
        ] {
            let e = serde_json::from_str::<Outer>(bad).unwrap_err().to_string();
            assert!(e.contains("invalid type"), "{bad}: {e}");
        }
    }
}
