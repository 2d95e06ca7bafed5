//! `trigr projects`: projects and their environments.

use clap::{Args, Subcommand};
use trigr_engine::projects::check_name;

use super::{table, time, StoreArgs};

#[derive(Subcommand, Debug)]
pub enum ProjectsCommand {
    /// List projects with their references and environments.
    List(StoreArgs),
    /// Create a project with dev, staging and prod environments and a key for each.
    Create(CreateArgs),
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Project name: letters, digits, '-' or '_'.
    pub name: String,
    /// Concurrency limit of each of its environments.
    #[arg(long, env = "TRIGR_ENV_CONCURRENCY_LIMIT", default_value_t = 1000)]
    pub env_concurrency_limit: u32,
    #[command(flatten)]
    pub store: StoreArgs,
}

pub async fn execute(cmd: ProjectsCommand) -> anyhow::Result<String> {
    match cmd {
        ProjectsCommand::List(store) => {
            let engine = store.engine().await?;
            let rows: Vec<Vec<String>> = engine
                .projects()
                .await?
                .into_iter()
                .map(|p| {
                    let envs: Vec<&str> = p.environments.iter().map(|e| e.slug.as_str()).collect();
                    vec![
                        p.project.name,
                        p.project.project_ref,
                        envs.join(", "),
                        time(p.project.created_at),
                    ]
                })
                .collect();
            Ok(table(&["NAME", "REF", "ENVIRONMENTS", "CREATED"], &rows))
        }
        ProjectsCommand::Create(args) => {
            let name = check_name(&args.name)?;
            let engine = args.store.engine().await?;
            let created = engine
                .create_project(name, i64::from(args.env_concurrency_limit))
                .await?;
            let mut out = format!(
                "Created project {} ({}). Secret keys (shown once, stored hashed):\n",
                created.project.name, created.project.project_ref
            );
            for (slug, key) in created.keys {
                out.push_str(&format!("# {slug}\nTRIGGER_SECRET_KEY={key}\n"));
            }
            Ok(out)
        }
    }
}
