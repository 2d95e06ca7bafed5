//! [`Target`]: the environment a request names by project reference and environment slug,
//! checked against the environment of the caller's secret key.

use trigr_store::ReadTx;

use crate::{Engine, Error, Result};

/// An environment named by a route, checked: the caller's own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub env_id: String,
}

/// The stored slug of a URL slug: `stg` and `staging` both name staging.
fn stored_slug(slug: &str) -> Option<&'static str> {
    match slug {
        "dev" => Some("dev"),
        "stg" | "staging" => Some("staging"),
        "prod" => Some("prod"),
        _ => None,
    }
}

impl Engine {
    /// Checks that `project_ref` and `slug` name the environment `env_id` of the caller's
    /// key: a 400 with Trigger.dev's messages otherwise.
    pub async fn env_var_target(
        &self,
        env_id: &str,
        project_ref: &str,
        slug: &str,
    ) -> Result<Target> {
        let (env_id, project_ref, slug) = (
            env_id.to_string(),
            project_ref.to_string(),
            slug.to_string(),
        );
        self.read(move |tx| check(tx, env_id, &project_ref, &slug))
            .await
    }
}

fn check<T: ReadTx + ?Sized>(
    tx: &mut T,
    env_id: String,
    project_ref: &str,
    slug: &str,
) -> Result<Target> {
    let env = tx
        .environment(&env_id)?
        .ok_or_else(|| Error::not_found("the key's environment no longer exists"))?;
    let project = tx.projects()?.into_iter().find(|p| p.id == env.project_id);
    if project.is_none_or(|p| p.project_ref != project_ref) {
        return Err(Error::invalid(
            "Invalid project ref for this API key. Make sure you are using an API key associated with that project.",
        ));
    }
    if stored_slug(slug) != Some(env.slug.as_str()) {
        return Err(Error::invalid(
            "Invalid environment slug for this API key. Make sure you are using an API key associated with that environment.",
        ));
    }
    Ok(Target { env_id })
}
