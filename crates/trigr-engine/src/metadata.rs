//! `metadata`: read a run's metadata, replace it, or apply operations (set, delete, append,
//! remove, increment, update) to it and to its parent and root.

use std::sync::Arc;

use serde_json::{Map, Value};
use trigr_store::{ReadTx, Run};
pub use trigr_types::wire::rest::MetadataOperation as Operation;
use trigr_types::wire::rest::MetadataUpdate;
use trigr_types::Millis;

use crate::mollifier::fallback::{buffered_run, materialise_in, Fetched, Want};
use crate::{transition, Engine, Error, Result, Txn};

/// A checked metadata update (from [`check`]).
#[derive(Clone, Debug, Default)]
pub struct Update {
    /// What becomes of the run's own metadata.
    pub own: Own,
    /// Applied to the parent's metadata (to the run's own when it has no parent).
    pub parent_operations: Option<Vec<Operation>>,
    /// Applied to the root's metadata (to the run's own when it is the root).
    pub root_operations: Option<Vec<Operation>>,
}

/// What an update does to the run's own metadata.
#[derive(Clone, Debug, Default)]
pub enum Own {
    /// Left as it is.
    #[default]
    Keep,
    /// Replaced by this object (nested within [`MAX_DEPTH`]).
    Replace(Value),
    /// Changed by these operations, in order (new metadata given with them is ignored).
    Apply(Vec<Operation>),
}

/// Checks a metadata update: at most [`MAX_OPERATIONS`] operations over its three lists, and
/// new metadata (when no operations are given) an object nested within [`MAX_DEPTH`].
pub fn check(update: MetadataUpdate) -> Result<Update> {
    let count: usize = [
        &update.operations,
        &update.parent_operations,
        &update.root_operations,
    ]
    .iter()
    .map(|ops| ops.as_ref().map_or(0, Vec::len))
    .sum();
    if count > MAX_OPERATIONS {
        return Err(Error::invalid(format!(
            "A metadata update may have at most {MAX_OPERATIONS} operations, this one has {count}"
        )));
    }
    let own = match (update.operations, update.metadata) {
        (Some(ops), _) => Own::Apply(ops),
        (None, Some(v @ Value::Object(_))) => {
            check_depth(depth(&v))?;
            Own::Replace(v)
        }
        (None, Some(_)) => return Err(Error::invalid("metadata must be a JSON object")),
        (None, None) => Own::Keep,
    };
    Ok(Update {
        own,
        parent_operations: update.parent_operations,
        root_operations: update.root_operations,
    })
}

/// Most operations in one update, over its three lists: checked before any is applied.
pub const MAX_OPERATIONS: usize = 1_000;

/// Deepest nesting of arrays and objects in metadata: stored metadata must parse again (JSON
/// readers stop at 128 levels), and a deep value must not exhaust a thread's stack.
pub const MAX_DEPTH: usize = 100;

/// Most array elements the `remove` operations of one update may compare, so an update's
/// cost is bounded by a constant, not by the square of its input.
pub const MAX_REMOVE_SCAN: usize = 1_000_000;

impl Engine {
    pub async fn metadata(&self, env_id: &str, run_id: &str) -> Result<Value> {
        let fetched = self.fetch_buffered(Want::Run { env_id, run_id }).await;
        let (env_id, run_id) = (env_id.to_string(), run_id.to_string());
        let run = self
            .read(move |tx| match tx.run(&env_id, &run_id)? {
                Some(run) => Ok(run),
                None => buffered_run(tx, &fetched, &env_id, &run_id)?
                    .ok_or_else(|| Error::run_not_found(&run_id)),
            })
            .await?;
        Ok(metadata_of(&run))
    }

    /// Applies an update; returns the run's new metadata.
    ///
    /// The operations are applied to a read snapshot first, outside the write, so an
    /// expensive update never holds up other writes. The write then saves the result if each
    /// run's metadata is still the one it was computed from, and computes it again otherwise.
    pub async fn update_metadata(
        &self,
        env_id: &str,
        run_id: &str,
        update: Update,
    ) -> Result<Value> {
        let target = Target {
            env_id: env_id.to_string(),
            run_id: run_id.to_string(),
            limit: self.config.max_metadata_bytes,
            update: Arc::new(update),
            fetched: self.fetch_buffered(Want::Run { env_id, run_id }).await,
        };
        let forget = target.fetched.clone();
        let planned = {
            let target = target.clone();
            self.read(move |tx| target.plan(tx)).await?
        };
        let new = self
            .write(move |tx| {
                tx.fetched = target.fetched.clone();
                let now = tx.now();
                // A buffered run is created first, then updated like any.
                let created = tx.run(&target.env_id, &target.run_id)?.is_none()
                    && materialise_in(tx, &target.env_id, &target.run_id)?.is_some();
                let changes = if !created && still_current(tx, &target.env_id, &planned)? {
                    planned
                } else {
                    target.plan(tx.store())?
                };
                for change in &changes {
                    save(tx, change, now)?;
                }
                Ok(changes
                    .into_iter()
                    .next()
                    .map(|c| c.new)
                    .unwrap_or_default())
            })
            .await?;
        self.forget_buffered(&forget, run_id).await;
        Ok(new)
    }
}

/// One metadata update of one run, and the limit it is held to.
#[derive(Clone)]
struct Target {
    env_id: String,
    run_id: String,
    limit: usize,
    update: Arc<Update>,
    /// The run's buffered entry, when the buffer is outside the store.
    fetched: Fetched,
}

/// The new metadata of one run, and the run it was computed from.
struct Change {
    before: Run,
    new: Value,
    text: String,
}

impl Target {
    /// The change to the run itself first, then to its parent and root (each run once, with
    /// every operation that targets it applied in order).
    fn plan(&self, tx: &mut dyn ReadTx) -> Result<Vec<Change>> {
        let update = &*self.update;
        let run = self.run(tx, &self.run_id)?;
        let mut budget = MAX_REMOVE_SCAN;
        let own = match &update.own {
            Own::Apply(ops) => apply_all(metadata_of(&run), ops, &mut budget)?,
            Own::Replace(v) => v.clone(),
            Own::Keep => metadata_of(&run),
        };
        let mut touched = vec![(run.clone(), own)];
        for (ops, target) in [
            (&update.parent_operations, &run.parent_run_id),
            (&update.root_operations, &run.root_run_id),
        ] {
            let Some(ops) = ops else { continue };
            let target_id = target.as_deref().unwrap_or(&run.id);
            let index = match touched.iter().position(|(r, _)| r.id == target_id) {
                Some(i) => i,
                None => {
                    let other = self.run(tx, target_id)?;
                    let current = metadata_of(&other);
                    touched.push((other, current));
                    touched.len() - 1
                }
            };
            let current = std::mem::take(&mut touched[index].1);
            touched[index].1 = apply_all(current, ops, &mut budget)?;
        }
        touched
            .into_iter()
            .map(|(before, new)| checked(before, new, self.limit))
            .collect()
    }

    fn run(&self, tx: &mut dyn ReadTx, id: &str) -> Result<Run> {
        match tx.run(&self.env_id, id)? {
            Some(run) => Ok(run),
            // Planned on a buffered run's view; the write creates it first.
            None => buffered_run(tx, &self.fetched, &self.env_id, id)?
                .ok_or_else(|| Error::run_not_found(id)),
        }
    }
}

/// Whether every planned run still has the metadata and status the plan started from.
fn still_current(tx: &mut Txn<'_>, env_id: &str, planned: &[Change]) -> Result<bool> {
    for change in planned {
        let Some(run) = tx.run(env_id, &change.before.id)? else {
            return Ok(false);
        };
        if run.metadata != change.before.metadata
            || run.status != change.before.status
            || run.lease != change.before.lease
        {
            return Ok(false);
        }
    }
    Ok(true)
}

fn metadata_of(run: &Run) -> Value {
    run.metadata
        .as_deref()
        .and_then(|m| serde_json::from_str(m).ok())
        .unwrap_or_else(|| Value::Object(Map::new()))
}

/// The change, if the run may still change and the new metadata is within the limit.
fn checked(before: Run, new: Value, limit: usize) -> Result<Change> {
    if before.status.is_final() {
        return Err(Error::unprocessable(format!(
            "Cannot update metadata for a completed run (run {} is {})",
            before.id, before.status
        )));
    }
    let text = new.to_string();
    if text.len() > limit {
        return Err(Error::TooLarge(format!(
            "Metadata is {} bytes, over the limit of {limit} bytes",
            text.len()
        )));
    }
    Ok(Change { before, new, text })
}

fn save(tx: &mut Txn<'_>, change: &Change, now: Millis) -> Result<()> {
    let mut after = change.before.clone();
    after.metadata = Some(change.text.clone());
    after.updated_at = now;
    if !transition(tx, &change.before, &after)? {
        return Err(Error::Store(trigr_store::Error::Database(format!(
            "run {} changed during the update",
            change.before.id
        ))));
    }
    Ok(())
}

/// Applies the operations in order; `budget` is what is left of [`MAX_REMOVE_SCAN`].
fn apply_all(mut m: Value, ops: &[Operation], budget: &mut usize) -> Result<Value> {
    for op in ops {
        m = apply(m, op, budget)?;
    }
    Ok(m)
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

/// The nesting level of the object that holds `key`: 1 for the metadata object itself.
fn level(key: &str) -> usize {
    key.strip_prefix("$.")
        .map_or(1, |path| path.split('.').count())
}

/// How deeply arrays and objects nest in `v` (0 for a scalar, 1 for `{"a": 1}`), found
/// without recursion.
pub fn depth(v: &Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(v, 1)];
    while let Some((v, d)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match v {
            Value::Array(a) => Box::new(a.iter()),
            Value::Object(o) => Box::new(o.values()),
            _ => continue,
        };
        deepest = deepest.max(d);
        stack.extend(children.map(|c| (c, d + 1)));
    }
    deepest
}

/// Refuses metadata nested deeper than [`MAX_DEPTH`].
pub fn check_depth(d: usize) -> Result<()> {
    if d > MAX_DEPTH {
        return Err(Error::invalid(format!(
            "Metadata may nest arrays and objects at most {MAX_DEPTH} levels deep; this would make {d}"
        )));
    }
    Ok(())
}

/// Applies one operation; an operation that cannot apply leaves the metadata unchanged. An
/// increment whose result is not a finite number, a value that would nest deeper than
/// [`MAX_DEPTH`], or a `remove` over the budget of compared elements, is an error.
pub fn apply(mut m: Value, op: &Operation, budget: &mut usize) -> Result<Value> {
    if !m.is_object() {
        m = Value::Object(Map::new());
    }
    match op {
        Operation::Update { value } => {
            check_depth(depth(value))?;
            return Ok(if value.is_object() { value.clone() } else { m });
        }
        Operation::Set { key, value } if !forbidden(key) => {
            if let Some((o, k)) = slot(&mut m, key) {
                check_depth(level(key) + depth(value))?;
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
                // The value goes one level down, into the array at `key`.
                let below = match o.get(&k) {
                    None | Some(Value::Array(_)) => depth(value),
                    Some(other) => depth(other).max(depth(value)),
                };
                check_depth(level(key) + 1 + below)?;
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
                    *budget = budget.checked_sub(a.len()).ok_or_else(|| {
                        Error::invalid(format!(
                            "The remove operations of this update compare more than {MAX_REMOVE_SCAN} array elements; send fewer or shorten the array"
                        ))
                    })?;
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
                if !next.is_finite() {
                    return Err(Error::invalid(format!(
                        "Incrementing {key} by {value} gives a number out of range ({cur} before)"
                    )));
                }
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
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn op(v: Value) -> Operation {
        serde_json::from_value(v).unwrap()
    }

    fn apply(m: Value, op: &Operation) -> Value {
        super::apply(m, op, &mut MAX_REMOVE_SCAN.clone()).unwrap()
    }

    #[test]
    fn an_increment_out_of_range_is_an_error_not_null() {
        let big = op(json!({"type": "increment", "key": "n", "value": 1e308}));
        let m = apply(json!({}), &big);
        let err = super::apply(m.clone(), &big, &mut 0).unwrap_err();
        assert!(err.to_string().contains("out of range"), "{err}");
        assert_eq!(m["n"], 1e308);
    }

    #[test]
    fn metadata_never_nests_deeper_than_the_limit() {
        fn nested(levels: usize) -> Value {
            (0..levels).fold(json!(1), |v, _| json!({ "a": v }))
        }
        assert_eq!(depth(&nested(0)), 0);
        assert_eq!(depth(&nested(3)), 3);
        assert_eq!(depth(&json!([[1], {"b": [[]]}])), 4);
        let set = |key: &str, v: Value| op(json!({"type": "set", "key": key, "value": v}));
        let m = apply(json!({}), &set("a", nested(MAX_DEPTH - 1)));
        assert_eq!(depth(&m), MAX_DEPTH);
        let deeper = set("$.a.a", nested(MAX_DEPTH - 1));
        assert!(super::apply(m.clone(), &deeper, &mut 0).is_err());
        let append = op(json!({"type": "append", "key": "a", "value": nested(MAX_DEPTH - 1)}));
        assert!(super::apply(m, &append, &mut 0).is_err());
    }

    #[test]
    fn removes_are_bounded_by_the_scan_budget() {
        let list: Vec<u32> = (0..1000).collect();
        let m = json!({ "l": list });
        let remove = op(json!({"type": "remove", "key": "l", "value": 5}));
        let mut budget = 1500;
        let m = super::apply(m, &remove, &mut budget).unwrap();
        assert_eq!(budget, 500);
        assert!(super::apply(m, &remove, &mut budget).is_err());
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
