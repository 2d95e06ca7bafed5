//! Creating a queue through the API.

use trigr_store::{Queue, QueueKind};
use trigr_types::id;

use super::{check_spec, view, within_env_limit, QueueSpec, QueueView};
use crate::{Engine, Error, Result};

impl Engine {
    /// Makes a custom queue marked as made through the API; a queue of that name in the
    /// environment already (from code or the API) is a conflict.
    pub async fn create_queue(&self, env_id: &str, spec: QueueSpec) -> Result<QueueView> {
        let spec = check_spec(spec)?;
        let env = env_id.to_string();
        self.write_retrying(move || {
            let (env, spec) = (env.clone(), spec.clone());
            move |tx: &mut crate::Txn<'_>| {
                within_env_limit(tx.store(), &env, spec.concurrency_limit)?;
                if tx.queue_by_name(&env, &spec.name)?.is_some() {
                    return Err(Error::Conflict(format!(
                        "A queue named '{}' already exists",
                        spec.name
                    )));
                }
                let q = Queue {
                    id: id::new("queue"),
                    env_id: env.clone(),
                    name: spec.name,
                    kind: QueueKind::Custom,
                    base_limit: spec.concurrency_limit,
                    override_limit: None,
                    overridden_at: None,
                    paused: false,
                    served_seq: 0,
                    created_at: tx.now(),
                    description: spec.description,
                    from_api: true,
                };
                tx.insert_queue(&q)?;
                tx.set_queue_tags(&q.id, &spec.tags)?;
                view(tx.store(), q)
            }
        })
        .await
    }
}
