//! `tags`: add tags to a run (at most 10 in all).

use serde_json::Value;

use crate::mollifier::fallback::{materialise_in, Want};
use crate::trigger::{parse_tags, MAX_TAGS};
use crate::{Engine, Error, Result};

impl Engine {
    /// Adds tags; returns how many were new.
    pub async fn add_tags(&self, env_id: &str, run_id: &str, tags: Value) -> Result<usize> {
        let mut wanted = parse_tags(Some(&tags))?;
        let fetched = self.fetch_buffered(Want::Run { env_id, run_id }).await;
        let forget = fetched.clone();
        let (env_id, run_id) = (env_id.to_string(), run_id.to_string());
        let id = run_id.clone();
        let added = self.write(move |tx| {
                tx.fetched = fetched;
                let mut run = match tx.run(&env_id, &run_id)? {
                    Some(run) => run,
                    // A buffered run is created first, then tagged like any.
                    None => materialise_in(tx, &env_id, &run_id)?
                        .ok_or_else(|| Error::run_not_found(&run_id))?,
                };
                wanted.retain(|t| !run.tags.contains(t));
                if run.tags.len() + wanted.len() > MAX_TAGS {
                    return Err(Error::unprocessable(format!(
                        "Runs can only have {MAX_TAGS} tags: run {run_id} has {} and {} more were given",
                        run.tags.len(),
                        wanted.len()
                    )));
                }
                let added = wanted.len();
                run.tags.extend(wanted);
                run.tags.sort();
                tx.set_tags(&run)?;
                Ok(added)
            })
            .await?;
        self.forget_buffered(&forget, &id).await;
        Ok(added)
    }
}
