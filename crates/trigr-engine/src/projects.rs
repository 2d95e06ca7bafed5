//! Projects and their environments: the default project of a new store, and more made by an
//! operator (`trigr projects create`). Every project has the same three environments, each
//! with its own keys, concurrency limit and signing secret.

use trigr_store::{EnvKind, Environment, Project};
use trigr_types::{id, Millis};

use crate::{keys, Engine, Error, Result, Txn};

/// The environments every project has, as (slug, key prefix, kind).
pub const ENVIRONMENTS: [(&str, &str, EnvKind); 3] = [
    ("dev", "dev", EnvKind::Development),
    ("staging", "stg", EnvKind::Staging),
    ("prod", "prod", EnvKind::Production),
];

/// The key prefix of an environment slug (`tr_<prefix>_…`).
pub fn key_prefix_of(slug: &str) -> &'static str {
    ENVIRONMENTS
        .iter()
        .find(|e| e.0 == slug)
        .map_or("prod", |e| e.1)
}

/// Where an environment comes in lists: dev, staging, prod.
pub fn rank(slug: &str) -> usize {
    ENVIRONMENTS
        .iter()
        .position(|e| e.0 == slug)
        .unwrap_or(ENVIRONMENTS.len())
}

/// The name of a project the first start creates.
pub const DEFAULT_PROJECT: &str = "default";

/// A project name: 1 to 64 letters, digits, `-` or `_`, not starting with `proj_` (so it is
/// never taken for a reference).
pub fn check_name(name: &str) -> Result<String> {
    let fine = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if name.is_empty() || name.len() > 64 || !name.chars().all(fine) {
        return Err(Error::invalid(format!(
            "project name '{}' must be 1 to 64 letters, digits, '-' or '_'",
            name.escape_debug()
        )));
    }
    if name.starts_with("proj_") {
        return Err(Error::invalid(
            "a project name may not start with 'proj_': that is how references start",
        ));
    }
    Ok(name.to_string())
}

/// A new project and the secret keys made for its environments, as (slug, key), to show once.
#[derive(Clone, Debug)]
pub struct CreatedProject {
    pub project: Project,
    pub keys: Vec<(String, String)>,
}

/// A project with its environments.
#[derive(Clone, Debug)]
pub struct ProjectView {
    pub project: Project,
    pub environments: Vec<Environment>,
}

impl Engine {
    /// Creates a project named `name` (checked by [`check_name`]) with its environments and one
    /// secret key each.
    pub async fn create_project(
        &self,
        name: String,
        env_concurrency_limit: i64,
    ) -> Result<CreatedProject> {
        self.write(move |tx| {
            if tx.projects()?.iter().any(|p| p.name == name) {
                return Err(Error::Conflict(format!("a project named '{name}' exists")));
            }
            let now = tx.now();
            let (project, envs) = insert(tx, &name, env_concurrency_limit, now)?;
            let mut created = Vec::new();
            for env in envs {
                created.push((env.slug.clone(), keys::insert_new(tx, &env, now)?));
            }
            Ok(CreatedProject {
                project,
                keys: created,
            })
        })
        .await
    }

    /// Every project with its environments, oldest first.
    pub async fn projects(&self) -> Result<Vec<ProjectView>> {
        self.read(|tx| {
            let mut envs = tx.environments()?;
            envs.sort_by_key(|e| rank(&e.slug));
            Ok(tx
                .projects()?
                .into_iter()
                .map(|project| ProjectView {
                    environments: envs
                        .iter()
                        .filter(|e| e.project_id == project.id)
                        .cloned()
                        .collect(),
                    project,
                })
                .collect())
        })
        .await
    }
}

/// Inserts a project and its environments, in the organization of the existing projects (a
/// new one on an empty store).
pub(crate) fn insert(
    tx: &mut Txn<'_>,
    name: &str,
    limit: i64,
    now: Millis,
) -> Result<(Project, Vec<Environment>)> {
    let org_id = match tx.projects()?.into_iter().next() {
        Some(p) => p.org_id,
        None => {
            let org = id::new("org");
            tx.insert_organization(&org, "default", now)?;
            org
        }
    };
    let project = Project {
        id: id::new("proj"),
        org_id,
        project_ref: new_ref(),
        name: name.to_string(),
        created_at: now,
    };
    tx.insert_project(
        &project.id,
        &project.org_id,
        &project.project_ref,
        &project.name,
        now,
    )?;
    let mut envs = Vec::new();
    for (slug, _, kind) in ENVIRONMENTS {
        let env = Environment {
            id: id::new("env"),
            project_id: project.id.clone(),
            slug: slug.to_string(),
            kind,
            concurrency_limit: limit,
            current_version: None,
            signing_secret: id::new_secret_key("sign"),
            default_region: None,
        };
        tx.insert_environment(&env, now)?;
        envs.push(env);
    }
    Ok((project, envs))
}

/// A project reference as Trigger.dev spells them: `proj_` and 20 lowercase letters.
fn new_ref() -> String {
    let letters = id::new("x")
        .trim_start_matches("x_")
        .replace(|c: char| c.is_ascii_digit(), "a");
    format!("proj_{}", &letters[..20.min(letters.len())])
}
