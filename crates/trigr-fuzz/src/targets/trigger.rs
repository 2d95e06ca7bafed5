//! `trigr_engine::trigger`: the options of a trigger call (`trigr_types::wire::trigger::
//! TriggerOptions` read from JSON, then `prepare`, `parse_ttl`, `parse_delay`, `idempotency_ttl`): tags by the tens of
//! thousands, TTLs and delays that overflow, odd payload types and numbers. Every refusal is a
//! client error; whatever is accepted keeps its documented bounds.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Map, Value};
use trigr_engine::trigger::{
    idempotency_ttl, parse_delay, parse_ttl, prepare, MAX_TAGS, MAX_TAG_LEN,
};
use trigr_types::duration::MAX;
use trigr_types::packet;
use trigr_types::wire::trigger::TriggerOptions;
use trigr_types::Millis;

use crate::gen::{json, json_text, number_text, text};
use crate::report::Report;
use crate::runner::{ensure, fuzz, Settings, Verdict};
use crate::targets::cron::server_now;
use crate::targets::duration::{date_text, duration_text};
use crate::targets::engine_client_error as client_error;

/// The largest payload `prepare` is asked to take.
const MAX_PAYLOAD: usize = 3 * 1024 * 1024;

/// A trigger call: task id, payload, options and the server's time.
#[derive(Clone, Debug)]
pub struct TriggerCase {
    task: String,
    payload: Option<Value>,
    options: Value,
    now: Millis,
}

fn tag() -> BoxedStrategy<String> {
    prop_oneof![
        4 => "[a-z]{1,8}",
        1 => (MAX_TAG_LEN - 2..MAX_TAG_LEN + 3).prop_map(|n| "é".repeat(n / 2) + &"x".repeat(n % 2)),
        1 => Just(String::new()),
        1 => text(10),
    ]
    .boxed()
}

/// Tags: a few, one, tens of thousands of distinct ones, or not strings.
fn tags() -> BoxedStrategy<Value> {
    prop_oneof![
        4 => vec(tag(), 0..14).prop_map(Value::from),
        1 => tag().prop_map(Value::String),
        1 => (1usize..60_000).prop_map(|n| (0..n).map(|i| format!("t{i}")).collect::<Vec<_>>().into()),
        1 => json(1),
    ]
    .boxed()
}

/// A number of any kind: small, at the integer edges, fractional, huge, or text.
fn number() -> BoxedStrategy<Value> {
    prop_oneof![
        2 => (-5i64..200).prop_map(Value::from),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<u64>().prop_map(Value::from),
        1 => any::<f64>().prop_map(Value::from),
        1 => select(&[1e9, 1e9 + 1.0, -0.0, 0.5, 31_536_000.0, 31_536_001.0][..]).prop_map(Value::from),
        1 => number_text().prop_map(Value::String),
    ]
    .boxed()
}

fn string_of(s: impl Strategy<Value = String> + 'static) -> BoxedStrategy<Value> {
    s.prop_map(Value::String).boxed()
}

fn long(around: usize) -> BoxedStrategy<String> {
    (around - 2..around + 3).prop_map(|n| "k".repeat(n)).boxed()
}

/// One option field with a hostile value.
fn option_field() -> BoxedStrategy<(&'static str, Value)> {
    let ttl_text = (number_text(), select(&["s", "m", "h", "d", "", "é"][..]))
        .prop_map(|(n, u)| format!("{n}{u}"));
    let types = select(
        &[
            packet::JSON,
            packet::SUPER_JSON,
            packet::TEXT,
            packet::STORE,
            "x/y",
        ][..],
    );
    let field = |key: &'static str, value: BoxedStrategy<Value>| value.prop_map(move |v| (key, v));
    prop_oneof![
        field("payloadType", string_of(types.prop_map(String::from))),
        field(
            "idempotencyKey",
            string_of(prop_oneof![text(20), long(2048)])
        ),
        field("idempotencyKeyTTL", string_of(ttl_text)),
        field(
            "idempotencyKeyOptions",
            (
                text(8),
                proptest::option::of(select(&["run", "attempt", "global", "x"][..]))
            )
                .prop_map(|(key, scope)| serde_json::json!({"key": key, "scope": scope}))
                .boxed()
        ),
        field(
            "delay",
            prop_oneof![string_of(duration_text()), string_of(date_text()), number()].boxed()
        ),
        field(
            "ttl",
            prop_oneof![string_of(duration_text()), number()].boxed()
        ),
        field("tags", tags()),
        field(
            "metadata",
            prop_oneof![json(2), string_of(json_text())].boxed()
        ),
        field("priority", number()),
        field(
            "queue",
            prop_oneof![
                string_of(prop_oneof![text(10), long(128)]),
                prop_oneof![text(10), long(128)].prop_map(|n| serde_json::json!({"name": n})),
            ]
            .boxed()
        ),
        field(
            "concurrencyKey",
            prop_oneof![string_of(long(256)), number(), json(1)].boxed()
        ),
        field("maxAttempts", number()),
        field("maxDuration", number()),
        field(
            "machine",
            string_of(select(&["micro", "large-2x", "huge", ""][..]).prop_map(String::from))
        ),
        field("lockToVersion", string_of(text(12))),
        field("test", any::<bool>().prop_map(Value::Bool).boxed()),
    ]
    .boxed()
}

fn case() -> BoxedStrategy<TriggerCase> {
    let payload = prop_oneof![
        Just(None),
        json(3).prop_map(Some),
        json_text().prop_map(|t| Some(Value::String(t))),
    ];
    let options = vec(option_field(), 0..8).prop_map(|fields| {
        let map: Map<String, Value> = fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        Value::Object(map)
    });
    let task = prop_oneof![4 => "[a-z][a-z0-9-]{0,12}", 1 => long(128), 1 => Just(String::new())];
    (task, payload, options, server_now())
        .prop_map(|(task, payload, options, now)| TriggerCase {
            task,
            payload,
            options,
            now,
        })
        .boxed()
}

/// `prepare` and the option parsers: refusals are client errors, accepted values in bounds.
pub fn prepare_options(name: &'static str, settings: &Settings) -> Report {
    fuzz(name, settings, case(), |c| {
        let Ok(options) = serde_json::from_value::<TriggerOptions>(c.options.clone()) else {
            return Ok(());
        };
        let written = serde_json::to_value(&options).map_err(|e| e.to_string());
        let back = written
            .and_then(|v| serde_json::from_value::<TriggerOptions>(v).map_err(|e| e.to_string()));
        ensure(
            back.as_ref() == Ok(&options),
            "options do not read back",
            || format!("{:?} read back as {back:?}", c.options),
        )?;
        check_ttl_and_delay(&options, c.now)?;
        let key_ttl = options.idempotency_key_ttl.clone();
        match prepare(&c.task, c.payload.clone(), options, MAX_PAYLOAD, c.now) {
            Ok(run) => {
                check_tags(&run.tags)?;
                let ttl = idempotency_ttl(key_ttl.as_deref());
                ensure(
                    matches!(ttl, Ok(t) if (0..=MAX).contains(&t)),
                    "TTL over the cap",
                    || format!("idempotencyKeyTTL {key_ttl:?} accepted as {ttl:?}"),
                )?;
                let held = run.idempotency.as_ref().map(|k| k.ttl_ms);
                ensure(
                    held.is_none_or(|t| (0..=MAX).contains(&t)),
                    "TTL over the cap",
                    || format!("idempotencyKeyTTL {key_ttl:?} held for {held:?} ms"),
                )?;
                ensure(
                    run.delay_until.is_none_or(|t| t > c.now),
                    "delay not after now",
                    || format!("delay accepted as {:?} at {}", run.delay_until, c.now),
                )
            }
            Err(e) => client_error(e, "prepare"),
        }
    })
}

fn check_ttl_and_delay(options: &TriggerOptions, now: Millis) -> Verdict {
    match parse_ttl(options.ttl.as_ref()) {
        Ok(Some((_, ms))) => ensure((0..=MAX).contains(&ms), "TTL over the cap", || {
            format!("ttl {:?} accepted as {ms} ms", options.ttl)
        })?,
        Ok(None) => {}
        Err(e) => client_error(e, "parse_ttl")?,
    }
    match parse_delay(options.delay.as_ref(), now) {
        Ok(Some(at)) => ensure(at >= now, "delay before now", || {
            format!("delay {:?} at {now} accepted as {at}", options.delay)
        }),
        Ok(None) => Ok(()),
        Err(e) => client_error(e, "parse_delay"),
    }
}

fn check_tags(tags: &[String]) -> Verdict {
    let unique = tags.windows(2).all(|w| w[0] < w[1]);
    let sized = tags.iter().all(|t| (1..=MAX_TAG_LEN).contains(&t.len()));
    ensure(
        tags.len() <= MAX_TAGS && unique && sized,
        "tags out of bounds",
        || format!("accepted tags {tags:?}"),
    )
}
