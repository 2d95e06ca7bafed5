//! `metadata`: read a run's metadata, replace it, or apply operations (set, delete, append,
//! remove, increment, update) to it and to its parent and root.

use serde::Deserialize;
use serde_json::{Map, Value};
use trigr_store::{Run, Tx};
use trigr_types::Millis;

use crate::{transition, Engine, Error, Result};

/// Body of `PUT /api/v1/runs/{id}/metadata`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetadataUpdate {
    pub metadata: Option<Value>,
    pub operations: Option<Vec<Operation>>,
    pub parent_operations: Option<Vec<Operation>>,
    pub root_operations: Option<Vec<Operation>>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Operation {
    Update { value: Value },
    Set { key: String, value: Value },
    Delete { key: String },
    Append { key: String, value: Value },
    Remove { key: String, value: Value },
    Increment { key: String, value: f64 },
    Decrement { key: String, value: f64 },
}

impl Engine {
    pub async fn metadata(&self, env_id: &str, run_id: &str) -> Result<Value> {
        let (env_id, run_id) = (env_id.to_string(), run_id.to_string());
        let run = self
            .read(move |tx| {
                tx.run(&env_id, &run_id)?
                    .ok_or_else(|| Error::run_not_found(&run_id))
            })
            .await?;
        Ok(metadata_of(&run))
    }

    /// Applies an update; returns the run's new metadata.
    pub async fn update_metadata(
        &self,
        env_id: &str,
        run_id: &str,
        update: MetadataUpdate,
    ) -> Result<Value> {
        let (env_id, run_id) = (env_id.to_string(), run_id.to_string());
        let engine = self.clone();
        self.write(move |tx| {
            let now = engine.now();
            let limit = engine.config.max_metadata_bytes;
            let run = tx
                .run(&env_id, &run_id)?
                .ok_or_else(|| Error::run_not_found(&run_id))?;
            let new = match (&update.operations, &update.metadata) {
                (Some(ops), _) => apply_all(metadata_of(&run), ops),
                (None, Some(Value::Object(m))) => Value::Object(m.clone()),
                (None, Some(_)) => return Err(Error::invalid("metadata must be a JSON object")),
                (None, None) => metadata_of(&run),
            };
            let saved = save(tx, &run, new, limit, now)?;
            for (ops, target) in [
                (&update.parent_operations, &run.parent_run_id),
                (&update.root_operations, &run.root_run_id),
            ] {
                let Some(ops) = ops else { continue };
                let target_id = target.clone().unwrap_or_else(|| run.id.clone());
                let current = tx
                    .run(&env_id, &target_id)?
                    .ok_or_else(|| Error::run_not_found(&target_id))?;
                let changed = apply_all(metadata_of(&current), ops);
                save(tx, &current, changed, limit, now)?;
            }
            Ok(saved)
        })
        .await
    }
}

fn metadata_of(run: &Run) -> Value {
    run.metadata
        .as_deref()
        .and_then(|m| serde_json::from_str(m).ok())
        .unwrap_or_else(|| Value::Object(Map::new()))
}

fn save(tx: &mut dyn Tx, run: &Run, new: Value, limit: usize, now: Millis) -> Result<Value> {
    if run.status.is_final() {
        return Err(Error::unprocessable(format!(
            "Cannot update metadata for a completed run (run {} is {})",
            run.id, run.status
        )));
    }
    let text = new.to_string();
    if text.len() > limit {
        return Err(Error::TooLarge(format!(
            "Metadata is {} bytes, over the limit of {limit} bytes",
            text.len()
        )));
    }
    let mut after = run.clone();
    after.metadata = Some(text);
    after.updated_at = now;
    if !transition(tx, run, &after)? {
        return Err(Error::Store(trigr_store::Error::Database(format!(
            "run {} changed during the update",
            run.id
        ))));
    }
    Ok(new)
}

fn apply_all(mut m: Value, ops: &[Operation]) -> Value {
    for op in ops {
        m = apply(m, op);
    }
    m
}

fn forbidden(key: &str) -> bool {
    key == "$."
        || key
            .split('.')
            .any(|p| matches!(p, "__proto__" | "constructor" | "prototype"))
}

/// The object that holds `key` and the last path segment, if the path's parent exists.
fn slot<'a>(m: &'a mut Value, key: &str) -> Option<(&'a mut Map<String, Value>, String)> {
    let Some(path) = key.strip_prefix("$.") else {
        return m.as_object_mut().map(|o| (o, key.to_string()));
    };
    let mut parts: Vec<&str> = path.split('.').collect();
    let last = parts.pop()?.to_string();
    let mut cur = m;
    for p in parts {
        cur = cur.as_object_mut()?.get_mut(p)?;
    }
    cur.as_object_mut().map(|o| (o, last))
}

/// Applies one operation; an operation that cannot apply leaves the metadata unchanged.
pub fn apply(mut m: Value, op: &Operation) -> Value {
    if !m.is_object() {
        m = Value::Object(Map::new());
    }
    match op {
        Operation::Update { value } => return if value.is_object() { value.clone() } else { m },
        Operation::Set { key, value } if !forbidden(key) => {
            if let Some((o, k)) = slot(&mut m, key) {
                o.insert(k, value.clone());
            }
        }
        Operation::Delete { key } if !forbidden(key) => {
            if let Some(o) = m.as_object_mut() {
                o.remove(key);
            }
        }
        Operation::Append { key, value } if !forbidden(key) => {
            if let Some((o, k)) = slot(&mut m, key) {
                let next = match o.remove(&k) {
                    None => vec![value.clone()],
                    Some(Value::Array(mut a)) => {
                        a.push(value.clone());
                        a
                    }
                    Some(other) => vec![other, value.clone()],
                };
                o.insert(k, Value::Array(next));
            }
        }
        Operation::Remove { key, value } if !forbidden(key) => {
            if let Some((o, k)) = slot(&mut m, key) {
                if let Some(Value::Array(a)) = o.get_mut(&k) {
                    a.retain(|x| x != value);
                }
            }
        }
        Operation::Increment { key, value } | Operation::Decrement { key, value }
            if !forbidden(key) =>
        {
            let sign = if matches!(op, Operation::Decrement { .. }) {
                -1.0
            } else {
                1.0
            };
            if let Some((o, k)) = slot(&mut m, key) {
                let cur = o.get(&k).and_then(Value::as_f64).unwrap_or(0.0);
                let next = cur + sign * value;
                let v = if next.fract() == 0.0 && next.abs() < 9e15 {
                    Value::from(next as i64)
                } else {
                    Value::from(next)
                };
                o.insert(k, v);
            }
        }
        _ => {}
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn op(v: Value) -> Operation {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn operations() {
        let m = json!({"a": {"b": 1}, "n": 1, "l": [1, 2, 1]});
        let m = apply(m, &op(json!({"type": "set", "key": "$.a.c", "value": 2})));
        assert_eq!(m["a"]["c"], 2);
        let m = apply(m, &op(json!({"type": "set", "key": "$.x.y", "value": 2})));
        assert!(m.get("x").is_none());
        let m = apply(m, &op(json!({"type": "increment", "key": "n", "value": 2})));
        assert_eq!(m["n"], 3);
        let m = apply(m, &op(json!({"type": "decrement", "key": "n", "value": 1})));
        assert_eq!(m["n"], 2);
        let m = apply(m, &op(json!({"type": "remove", "key": "l", "value": 1})));
        assert_eq!(m["l"], json!([2]));
        let m = apply(m, &op(json!({"type": "append", "key": "n", "value": 5})));
        assert_eq!(m["n"], json!([2, 5]));
        let m = apply(m, &op(json!({"type": "delete", "key": "n"})));
        assert!(m.get("n").is_none());
        let m = apply(
            m,
            &op(json!({"type": "set", "key": "__proto__", "value": 1})),
        );
        assert!(m.get("__proto__").is_none());
        let m = apply(m, &op(json!({"type": "update", "value": {"z": 1}})));
        assert_eq!(m, json!({"z": 1}));
    }
}
