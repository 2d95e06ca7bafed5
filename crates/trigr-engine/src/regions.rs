//! `regions`: the environment's default region, where its runs that name no region go and
//! what its workers that name none serve (see [`trigr_types::region`]). Read, set, or returned
//! to the server's default ([`trigr_types::region::DEFAULT`]).

use trigr_types::region::DEFAULT;

use crate::{Engine, Error, Result};

/// An environment's default region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DefaultRegion {
    pub region: String,
    /// The environment follows the server's default (it has no region of its own).
    pub is_default: bool,
}

impl DefaultRegion {
    fn of(own: Option<String>) -> DefaultRegion {
        DefaultRegion {
            is_default: own.is_none(),
            region: own.unwrap_or_else(|| DEFAULT.to_string()),
        }
    }
}

impl Engine {
    /// The environment's default region.
    pub async fn default_region(&self, env_id: &str) -> Result<DefaultRegion> {
        let env_id = env_id.to_string();
        let own = self
            .read(move |tx| {
                let env = tx
                    .environment(&env_id)?
                    .ok_or_else(|| Error::not_found(format!("No environment {env_id}")))?;
                Ok::<_, Error>(env.default_region)
            })
            .await?;
        Ok(DefaultRegion::of(own))
    }

    /// Sets the environment's default region (a name checked by
    /// [`crate::trigger::check_region`]); `None` goes back to the server's default. Runs
    /// already triggered keep their region.
    pub async fn set_default_region(
        &self,
        env_id: &str,
        region: Option<String>,
    ) -> Result<DefaultRegion> {
        let (env_id, own) = (env_id.to_string(), region.clone());
        self.write(move |tx| {
            if tx.environment_for_update(&env_id)?.is_none() {
                return Err(Error::not_found(format!("No environment {env_id}")));
            }
            tx.set_default_region(&env_id, own.as_deref())?;
            // Long-polling workers that name no region serve the new one from now on.
            tx.wake(&env_id);
            Ok(())
        })
        .await?;
        Ok(DefaultRegion::of(region))
    }
}
