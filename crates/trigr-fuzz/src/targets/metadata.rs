//! `trigr_engine::metadata::apply`: metadata operations (set, delete, append, remove,
//! increment, update) with `$.` paths thousands of levels deep, forbidden keys, huge
//! increments, removes over large arrays and sets that nest objects ever deeper. Metadata
//! stays an object that reads back from its text, refusals are client errors, and a `set` of
//! a plain key sets it.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{json, Map, Value};
use trigr_engine::metadata::{apply, Operation, MAX_REMOVE_SCAN};

use crate::gen::{json, text};
use crate::report::Report;
use crate::runner::{ensure, fuzz, Settings, Verdict};
use crate::targets::engine_client_error;

const KEYS: &[&str] = &[
    "a",
    "b",
    "l",
    "$.a",
    "$.a.b",
    "$.l",
    "$.",
    "$..",
    "$",
    "",
    ".",
    "$.a.",
    "__proto__",
    "$.__proto__.x",
    "$.constructor",
    "prototype",
    "$.a.prototype",
];

fn key() -> BoxedStrategy<String> {
    prop_oneof![
        6 => select(KEYS).prop_map(String::from),
        1 => (1usize..3_000).prop_map(|n| format!("$.{}", vec!["a"; n].join("."))),
        1 => text(12),
    ]
    .boxed()
}

fn amount() -> BoxedStrategy<f64> {
    prop_oneof![
        3 => -10.0f64..10.0,
        1 => any::<f64>().prop_filter("finite", |f| f.is_finite()),
        1 => select(&[1e308, -1e308, 9e15, 0.1, -0.0][..]),
    ]
    .boxed()
}

fn operation() -> BoxedStrategy<Value> {
    let with_value = |kind: &'static str| {
        (key(), json(2)).prop_map(move |(k, v)| json!({"type": kind, "key": k, "value": v}))
    };
    let counting = |kind: &'static str| {
        (key(), amount()).prop_map(move |(k, v)| json!({"type": kind, "key": k, "value": v}))
    };
    prop_oneof![
        3 => with_value("set"),
        1 => key().prop_map(|k| json!({"type": "delete", "key": k})),
        2 => with_value("append"),
        2 => (key(), 0i64..5).prop_map(|(k, v)| json!({"type": "remove", "key": k, "value": v})),
        2 => counting("increment"),
        1 => counting("decrement"),
        1 => json(2).prop_map(|v| json!({"type": "update", "value": v})),
        1 => json(1).prop_map(|v| json!({"type": "bogus", "key": "a", "value": v})),
    ]
    .boxed()
}

/// The deepest nesting of arrays and objects that JSON text may have and still be read back:
/// `serde_json` refuses 128 levels.
const READABLE_DEPTH: usize = 127;

/// Starting metadata: anything, a long array for `remove` to scan, or objects nested as deep
/// as a request body can carry.
fn metadata() -> BoxedStrategy<Value> {
    prop_oneof![
        2 => json(3),
        1 => (0usize..50_000).prop_map(|n| {
            let mut m = Map::new();
            m.insert("l".into(), Value::Array(vec![Value::from(1); n]));
            m.insert("a".into(), json!({"b": 1}));
            Value::Object(m)
        }),
        1 => (1usize..120).prop_map(nested),
    ]
    .boxed()
}

/// `{"a": {"a": … 1}}`, `depth` levels.
fn nested(depth: usize) -> Value {
    (0..depth).fold(Value::from(1), |inner, _| nest(inner))
}

/// `set` operations that each put a nested object at the bottom of the one before, through a
/// `$.a.a.…` path: every operation as deep as a body allows, the whole deeper.
fn nesting_operations() -> BoxedStrategy<Vec<Value>> {
    vec(1usize..120, 1..6)
        .prop_map(|depths| {
            let mut below = 0;
            depths
                .iter()
                .map(|depth| {
                    let key = match below {
                        0 => "a".to_string(),
                        n => format!("$.{}", vec!["a"; n + 1].join(".")),
                    };
                    below += depth;
                    json!({"type": "set", "key": key, "value": nested(*depth)})
                })
                .collect()
        })
        .boxed()
}

/// `{"a": inner}`, without copying `inner`.
fn nest(inner: Value) -> Value {
    let mut m = Map::new();
    m.insert("a".into(), inner);
    Value::Object(m)
}

/// Applying operations read from JSON, in order, within one scan budget, as one update does.
pub fn apply_operations(name: &'static str, settings: &Settings) -> Report {
    let operations = prop_oneof![4 => vec(operation(), 1..30), 1 => nesting_operations()];
    let input = (metadata(), operations);
    fuzz(name, settings, input, |(start, ops)| {
        let mut m = start.clone();
        let mut budget = MAX_REMOVE_SCAN;
        for raw in ops {
            let Ok(op) = serde_json::from_value::<Operation>(raw.clone()) else {
                continue;
            };
            m = match apply(m, &op, &mut budget) {
                Ok(next) => next,
                Err(e) => return engine_client_error(e, raw),
            };
            holds_after(&m, &op)?;
        }
        reads_back(&m, ops.len())
    })
}

/// Metadata is an object, and a `set` of a plain key holds that value.
fn holds_after(m: &Value, op: &Operation) -> Verdict {
    ensure(m.is_object(), "not an object", || {
        format!("after {op:?}: {m}")
    })?;
    match op {
        Operation::Set { key, value } if plain(key) => {
            ensure(m.get(key) == Some(value), "set lost", || {
                format!("after {op:?}: {m}")
            })
        }
        _ => Ok(()),
    }
}

/// The text of the metadata, as the store keeps it, parses again: otherwise the next read of
/// the run finds no metadata.
fn reads_back(m: &Value, operations: usize) -> Verdict {
    let depth = depth(m);
    ensure(
        depth <= READABLE_DEPTH,
        "nested too deep to read back",
        || {
            format!(
                "after {operations} operations the metadata is nested {depth} levels deep; \
             its text no longer parses (limit {READABLE_DEPTH})"
            )
        },
    )?;
    let text = m.to_string();
    ensure(
        serde_json::from_str::<Value>(&text).is_ok(),
        "does not read back",
        || format!("after {operations} operations: {text}"),
    )
}

/// How deeply `v` nests arrays and objects (a scalar is 0), without recursion.
fn depth(v: &Value) -> usize {
    let mut deepest = 0;
    let mut pending = vec![(v, 0)];
    while let Some((v, d)) = pending.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match v {
            Value::Array(items) => Box::new(items.iter()),
            Value::Object(members) => Box::new(members.values()),
            _ => continue,
        };
        deepest = deepest.max(d + 1);
        pending.extend(children.map(|c| (c, d + 1)));
    }
    deepest
}

fn plain(key: &str) -> bool {
    !key.starts_with("$.")
        && !key
            .split('.')
            .any(|p| matches!(p, "__proto__" | "constructor" | "prototype"))
}
