//! Deployments are immutable once registered, so every server may cache them (with their
//! compiled payload schemas) forever.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use trigr_store::{Deployment, Tx};
use trigr_types::manifest::TaskManifest;

use crate::{Error, Result};

pub struct LoadedDeployment {
    pub deployment: Deployment,
    schemas: HashMap<String, jsonschema::Validator>,
}

impl LoadedDeployment {
    pub fn new(deployment: Deployment) -> std::result::Result<LoadedDeployment, String> {
        let mut schemas = HashMap::new();
        for t in &deployment.tasks {
            if let Some(schema) = &t.payload_schema {
                let v = jsonschema::validator_for(schema).map_err(|e| {
                    format!(
                        "task '{}': payloadSchema is not a valid JSON Schema: {e}",
                        t.id
                    )
                })?;
                schemas.insert(t.id.clone(), v);
            }
        }
        Ok(LoadedDeployment {
            deployment,
            schemas,
        })
    }

    pub fn task(&self, id: &str) -> Option<&TaskManifest> {
        self.deployment.task(id)
    }

    /// Checks a payload against the task's schema; a sentence naming the first problem.
    pub fn validate_payload(&self, task_id: &str, payload: &serde_json::Value) -> Result<()> {
        let Some(v) = self.schemas.get(task_id) else {
            return Ok(());
        };
        if let Some(err) = v.iter_errors(payload).next() {
            let at = err.instance_path.to_string();
            let at = if at.is_empty() {
                "the payload".to_string()
            } else {
                format!("payload{at}")
            };
            return Err(Error::unprocessable(format!(
                "The payload does not match the schema of task '{task_id}': {at}: {err}"
            )));
        }
        Ok(())
    }
}

#[derive(Default)]
pub struct DeploymentCache {
    map: Mutex<HashMap<(String, String), Arc<LoadedDeployment>>>,
}

impl DeploymentCache {
    /// The deployment of `version` in `env_id`, loading it through `tx` on a miss.
    pub fn get(
        &self,
        tx: &mut dyn Tx,
        env_id: &str,
        version: &str,
    ) -> Result<Option<Arc<LoadedDeployment>>> {
        let key = (env_id.to_string(), version.to_string());
        if let Some(d) = self.map.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return Ok(Some(d.clone()));
        }
        let Some(d) = tx.deployment(env_id, version)? else {
            return Ok(None);
        };
        let loaded = Arc::new(
            LoadedDeployment::new(d).map_err(|e| Error::Store(trigr_store::Error::Corrupt(e)))?,
        );
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, loaded.clone());
        Ok(Some(loaded))
    }
}
