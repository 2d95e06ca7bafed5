//! Deployment manifests (`trigr_types::manifest` read by `trigr_engine::deploy::
//! validate_manifest`): tasks with queue, retry, machine, payload schema and schedule fields at
//! and past their limits. A manifest that validates must keep every documented bound.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{json, Map, Value};
use trigr_engine::deploy::validate_manifest;
use trigr_types::manifest::{TaskManifest, MAX_DURATION_SECS};
use trigr_types::retry::MAX_TIMEOUT_MS;

use crate::gen::{json, json_text, text};
use crate::report::Report;
use crate::runner::{ensure, fuzz, Settings, Verdict};
use crate::targets::cron::{pattern, timezone};
use crate::targets::engine_client_error;

/// Numbers for integer fields: in range, at the edges, negative, fractional, huge.
fn number() -> BoxedStrategy<Value> {
    prop_oneof![
        3 => (0u64..200).prop_map(Value::from),
        1 => any::<u64>().prop_map(Value::from),
        1 => any::<i64>().prop_map(Value::from),
        1 => select(&[1.5, -0.0, 1e300, 31_536_000.5][..]).prop_map(Value::from),
        1 => Just(Value::from(MAX_DURATION_SECS + 1)),
        1 => Just(Value::String("10".into())),
    ]
    .boxed()
}

/// Payload schemas that are hard to compile: recursive references, bad and heavy patterns.
const SCHEMAS: &[&str] = &[
    r#"{"type":"object"}"#,
    r##"{"$ref":"#"}"##,
    r##"{"definitions":{"a":{"$ref":"#/definitions/a"}},"$ref":"#/definitions/a"}"##,
    r#"{"type":"string","pattern":"(a+)+$"}"#,
    r#"{"type":"string","pattern":"["}"#,
    r#"{"type":"string","pattern":"\\p{Unknown}"}"#,
    r#"{"type":"string","format":"no-such-format"}"#,
    r#"{"$ref":"http://127.0.0.1:1/schema.json"}"#,
    r#"{"$ref":"file:///etc/passwd"}"#,
    r#"{"type":"nope"}"#,
    r#"{"minLength":-1}"#,
    r#"{"multipleOf":0}"#,
    r#"{"allOf":[{"allOf":[{"allOf":[{"allOf":[{"type":"string"}]}]}]}]}"#,
    r#"true"#,
    r#"[]"#,
];

fn schema() -> BoxedStrategy<Value> {
    prop_oneof![
        3 => select(SCHEMAS).prop_map(|s| serde_json::from_str(s).unwrap_or(Value::Null)),
        1 => json(3),
    ]
    .boxed()
}

/// A task id: valid, at and past 128 characters, with forbidden characters.
fn task_id() -> BoxedStrategy<String> {
    prop_oneof![
        4 => "[a-z][a-z0-9_.:/-]{0,20}",
        1 => (120usize..140).prop_map(|n| "t".repeat(n)),
        1 => text(12),
    ]
    .boxed()
}

fn retry() -> BoxedStrategy<Value> {
    (number(), number(), number(), number(), any::<bool>())
        .prop_map(|(a, f, min, max, r)| {
            json!({"maxAttempts": a, "factor": f, "minTimeoutInMs": min, "maxTimeoutInMs": max, "randomize": r})
        })
        .boxed()
}

fn schedule() -> BoxedStrategy<Value> {
    (
        pattern(),
        timezone(),
        prop_oneof![Just(None), "[0-9]{1,4}[mh%]".prop_map(Some)],
    )
        .prop_map(|(cron, tz, window)| json!({"cron": cron, "timezone": tz, "window": window}))
        .boxed()
}

/// One task; each optional field present about half the time, sometimes an unknown one.
fn task() -> BoxedStrategy<Value> {
    let fields = (
        task_id(),
        proptest::option::of(("[a-z]{0,4}|[ ]{1,3}", number())),
        proptest::option::of(retry()),
        proptest::option::of(number()),
        proptest::option::of(select(&["micro", "small-1x", "large-2x", "huge", ""][..])),
        proptest::option::of(schema()),
        proptest::option::of(schedule()),
        proptest::option::of(text(8)),
    );
    fields
        .prop_map(
            |(id, queue, retry, max_duration, machine, schema, sched, extra)| {
                let mut t = Map::new();
                t.insert("id".into(), Value::String(id));
                if let Some((name, limit)) = queue {
                    t.insert(
                        "queue".into(),
                        json!({"name": name, "concurrencyLimit": limit}),
                    );
                }
                let optional = [
                    ("retry", retry),
                    ("maxDuration", max_duration),
                    ("machine", machine.map(Value::from)),
                    ("payloadSchema", schema),
                    ("schedule", sched),
                ];
                for (key, value) in optional {
                    if let Some(v) = value {
                        t.insert(key.into(), v);
                    }
                }
                if let Some(key) = extra {
                    t.insert(key, Value::Null);
                }
                Value::Object(t)
            },
        )
        .boxed()
}

/// A manifest body: a list of generated tasks (ids often repeated), or JSON-like text.
fn manifest_text() -> BoxedStrategy<String> {
    prop_oneof![
        6 => vec(task(), 0..4).prop_map(|tasks| Value::Array(tasks).to_string()),
        1 => json_text(),
    ]
    .boxed()
}

/// Reading and validating a manifest: errors are client errors, and a valid manifest keeps
/// every bound and survives a write and a read.
pub fn validate(name: &'static str, settings: &Settings) -> Report {
    fuzz(name, settings, manifest_text(), |body| {
        let Ok(tasks) = serde_json::from_str::<Vec<TaskManifest>>(body) else {
            return Ok(());
        };
        match validate_manifest(&tasks) {
            Ok(()) => tasks.iter().try_for_each(valid_task),
            Err(e) => engine_client_error(e, body),
        }
    })
}

fn valid_task(t: &TaskManifest) -> Verdict {
    ensure(
        t.max_duration
            .is_none_or(|d| (1..=MAX_DURATION_SECS).contains(&d)),
        "bound not kept",
        || format!("maxDuration {:?} accepted", t.max_duration),
    )?;
    if let Some(r) = &t.retry {
        for attempt in [
            1,
            2,
            r.max_attempts,
            r.max_attempts.saturating_add(5),
            u32::MAX,
        ] {
            let delay = r.backoff(attempt, 0.999);
            ensure(
                (0..=2 * MAX_TIMEOUT_MS as i64).contains(&delay),
                "backoff out of range",
                || format!("retry {r:?}: backoff({attempt}) = {delay}"),
            )?;
        }
    }
    let text = serde_json::to_string(t).unwrap_or_default();
    let back: Option<TaskManifest> = serde_json::from_str(&text).ok();
    ensure(back.as_ref() == Some(t), "does not round-trip", || {
        format!("{t:?} written as {text:?} read back as {back:?}")
    })
}
