//! The task a tool definition names: it must be declared by the deployment serving it in the
//! environment, whose payload schema is the tool's default parameters.

use serde_json::Value;

use crate::serving::version_for;
use crate::{Error, Result, Txn};

/// The payload schema of `task_id` as the deployment serving it declares it (`None`: it
/// declares none); a `422` when no deployment of the environment declares the task.
pub(super) fn payload_schema(
    tx: &mut Txn<'_>,
    env_id: &str,
    task_id: &str,
) -> Result<Option<Value>> {
    let missing = || {
        Error::unprocessable(format!(
            "Task '{task_id}' does not exist: no deployment of this environment declares it"
        ))
    };
    let env = tx
        .environment(env_id)?
        .ok_or_else(|| Error::not_found("No such environment"))?;
    let version = match version_for(tx, &env, task_id) {
        Ok(Some(version)) => version,
        Ok(None) | Err(Error::NotFound(_)) => return Err(missing()),
        Err(e) => return Err(e),
    };
    let deployment = tx
        .loaded_deployment(env_id, &version)?
        .ok_or_else(missing)?;
    let task = deployment.task(task_id).ok_or_else(missing)?;
    Ok(task.payload_schema.clone())
}

/// The parameters of a tool of `task_id`: those given, or else the task's payload schema
/// (checked as given ones are), or else any object. Checks the task exists either way.
pub(super) fn parameters(
    tx: &mut Txn<'_>,
    env_id: &str,
    task_id: &str,
    given: Option<Value>,
) -> Result<Value> {
    let declared = payload_schema(tx, env_id, task_id)?;
    match (given, declared) {
        (Some(given), _) => Ok(given),
        (None, Some(declared)) => {
            super::check_parameters(
                &format!("the payload schema of task '{task_id}' (give parameters instead)"),
                &declared,
            )
            .map_err(|e| Error::unprocessable(e.to_string()))?;
            Ok(declared)
        }
        (None, None) => Ok(super::any_object()),
    }
}
