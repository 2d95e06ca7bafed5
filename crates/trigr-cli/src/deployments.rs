//! `trigr deployments …`: list the deployments, show the current one, promote a version, roll
//! back to the version before the current one.

use clap::builder::NonEmptyStringValueParser;
use trigr_types::wire::manage::{Deployment, DeploymentList};

use crate::api::{decode, Api, ConnectionArgs};
use crate::encode;
use crate::output::{self, short_timestamp};
use crate::table;

/// Subcommands of `trigr deployments`.
#[derive(clap::Subcommand, Debug)]
pub enum DeploymentsCommand {
    /// List the deployments, newest first, with whether workers of each version are there.
    List(DeploymentsArgs),
    /// Show the current deployment.
    Current(DeploymentsArgs),
    /// Make a deployed version the current one.
    Promote(PromoteArgs),
    /// Make the newest version older than the current one current again.
    Rollback(DeploymentsArgs),
}

/// Arguments of `trigr deployments list`, `current` and `rollback`.
#[derive(clap::Args, Debug, Clone)]
pub struct DeploymentsArgs {
    /// Print the server's answer as JSON.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub conn: ConnectionArgs,
}

/// Arguments of `trigr deployments promote`.
#[derive(clap::Args, Debug, Clone)]
pub struct PromoteArgs {
    /// The version to make current (like 20260102.3).
    #[arg(
        id = "deployment_version",
        value_name = "VERSION",
        value_parser = NonEmptyStringValueParser::new()
    )]
    pub version: String,

    /// Print the server's answer as JSON.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub conn: ConnectionArgs,
}

/// Runs one `trigr deployments` subcommand and returns its output.
pub async fn execute(cmd: DeploymentsCommand) -> anyhow::Result<String> {
    match cmd {
        DeploymentsCommand::List(args) => list(args).await,
        DeploymentsCommand::Current(args) => current(args).await,
        DeploymentsCommand::Promote(args) => promote(args).await,
        DeploymentsCommand::Rollback(args) => rollback(args).await,
    }
}

async fn list(args: DeploymentsArgs) -> anyhow::Result<String> {
    let client = Api::connect(&args.conn)?;
    let mut answer = client.get("/api/v1/deployments").await?;
    let list: DeploymentList = decode(answer.clone(), "GET /api/v1/deployments")?;
    if args.json {
        return Ok(output::json(&answer["data"].take()));
    }
    Ok(render_list(&list.data))
}

fn render_list(deployments: &[Deployment]) -> String {
    if deployments.is_empty() {
        return "No deployments.\n".to_string();
    }
    let rows: Vec<Vec<String>> = deployments
        .iter()
        .map(|d| {
            vec![
                d.version.clone(),
                yes_no(d.current),
                yes_no(d.has_workers),
                last_seen(d),
                short_timestamp(d.deployed_at),
                d.tasks.len().to_string(),
            ]
        })
        .collect();
    table::render(
        &["VERSION", "CURRENT", "WORKERS", "SEEN", "DEPLOYED", "TASKS"],
        &rows,
    )
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

fn last_seen(d: &Deployment) -> String {
    d.worker_last_seen_at
        .map_or_else(|| "never".to_string(), short_timestamp)
}

async fn current(args: DeploymentsArgs) -> anyhow::Result<String> {
    let client = Api::connect(&args.conn)?;
    let answer = client
        .get("/api/v1/deployments/current")
        .await
        .map_err(|e| e.or_not_found(|| "No deployment is current in this environment.".into()))?;
    if args.json {
        return Ok(output::json(&answer));
    }
    let d: Deployment = decode(answer, "GET /api/v1/deployments/current")?;
    Ok(render_one(&d))
}

/// `key: value` lines for one deployment.
fn render_one(d: &Deployment) -> String {
    let mut lines = vec![
        ("version", d.version.clone()),
        ("deployed", short_timestamp(d.deployed_at)),
    ];
    let workers = format!("{} (last seen {})", yes_no(d.has_workers), last_seen(d));
    lines.push(("workers", workers));
    lines.push(("tasks", d.tasks.join(", ")));
    lines.iter().map(|(k, v)| format!("{k}: {v}\n")).collect()
}

async fn promote(args: PromoteArgs) -> anyhow::Result<String> {
    let client = Api::connect(&args.conn)?;
    let path = format!(
        "/api/v1/deployments/{}/promote",
        encode::component(&args.version)
    );
    let answer = client
        .post_empty(&path)
        .await
        .map_err(|e| e.or_not_found(|| format!("Deployment {} was not found.", args.version)))?;
    if args.json {
        return Ok(output::json(&answer));
    }
    let d: Deployment = decode(answer, "POST /api/v1/deployments/{version}/promote")?;
    Ok(format!(
        "Promoted {}: it is the current version now.\n{}",
        d.version,
        no_workers_note(&d)
    ))
}

async fn rollback(args: DeploymentsArgs) -> anyhow::Result<String> {
    let client = Api::connect(&args.conn)?;
    let answer = client.post_empty("/api/v1/deployments/rollback").await?;
    if args.json {
        return Ok(output::json(&answer));
    }
    let d: Deployment = decode(answer, "POST /api/v1/deployments/rollback")?;
    let from = d
        .rolled_back_from
        .as_deref()
        .unwrap_or("the current version");
    Ok(format!(
        "Rolled back from {from} to {}: it is the current version now.\n{}",
        d.version,
        no_workers_note(&d)
    ))
}

/// A warning line when no worker of the deployment's version is there to run its runs.
fn no_workers_note(d: &Deployment) -> String {
    if d.has_workers {
        return String::new();
    }
    format!(
        "No worker of {} asked for runs lately (last seen {}): its runs wait until one does.\n",
        d.version,
        last_seen(d)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testserver::{task, TestServer};
    use serde_json::{json, Value};

    /// A deployment as the server writes it, with the given fields.
    fn deployment(fields: Value) -> Deployment {
        let mut d = json!({"id": "deployment_1", "createdAt": "2026-01-02T00:00:00.000Z",
            "shortCode": "v", "version": "v", "runtime": null, "runtimeVersion": null,
            "status": "DEPLOYED", "deployedAt": "2026-01-02T00:00:00.000Z", "current": false,
            "tasks": [], "workerLastSeenAt": null, "hasWorkers": false});
        d.as_object_mut()
            .expect("an object")
            .extend(fields.as_object().expect("fields").clone());
        serde_json::from_value(d).expect("deployment")
    }

    #[test]
    fn renders_the_list_and_one_deployment() {
        let list = vec![
            deployment(
                json!({"version": "20260102.2", "current": true, "hasWorkers": true,
                "workerLastSeenAt": "2026-01-02T03:04:05.678Z",
                "deployedAt": "2026-01-02T03:00:00.000Z", "tasks": ["a", "b"]}),
            ),
            deployment(
                json!({"version": "20260102.1", "current": false, "hasWorkers": false,
                "workerLastSeenAt": null, "deployedAt": "2026-01-02T02:00:00.000Z",
                "tasks": ["a"]}),
            ),
        ];
        let text = render_list(&list);
        let lines: Vec<Vec<&str>> = text
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(
            lines[0],
            ["VERSION", "CURRENT", "WORKERS", "SEEN", "DEPLOYED", "TASKS"]
        );
        assert_eq!(
            lines[1],
            [
                "20260102.2",
                "yes",
                "yes",
                "2026-01-02T03:04:05Z",
                "2026-01-02T03:00:00Z",
                "2"
            ]
        );
        assert_eq!(
            lines[2],
            [
                "20260102.1",
                "no",
                "no",
                "never",
                "2026-01-02T02:00:00Z",
                "1"
            ]
        );
        assert_eq!(render_list(&[]), "No deployments.\n");
        assert_eq!(
            render_one(&list[0]),
            "version: 20260102.2\ndeployed: 2026-01-02T03:00:00Z\n\
             workers: yes (last seen 2026-01-02T03:04:05Z)\ntasks: a, b\n"
        );
        assert_eq!(no_workers_note(&list[0]), "");
        assert!(no_workers_note(&list[1]).contains("last seen never"));
    }

    #[tokio::test]
    async fn promotes_and_rolls_back() {
        let server = TestServer::start().await;
        let conn = || DeploymentsArgs {
            json: false,
            conn: server.conn(),
        };
        let err = execute(DeploymentsCommand::Current(conn())).await;
        assert_eq!(
            err.err().map(|e| e.to_string()).as_deref(),
            Some("No deployment is current in this environment.")
        );
        let first = server.deploy(vec![task("hello")]).await;
        let second = server.deploy(vec![task("hello"), task("bye")]).await;

        let text = execute(DeploymentsCommand::Current(conn()))
            .await
            .expect("current");
        assert!(text.starts_with(&format!("version: {second}\n")), "{text}");

        let text = execute(DeploymentsCommand::Rollback(conn()))
            .await
            .expect("rollback");
        assert!(
            text.starts_with(&format!(
                "Rolled back from {second} to {first}: it is the current version now.\n"
            )),
            "{text}"
        );
        let err = execute(DeploymentsCommand::Rollback(conn())).await;
        let err = err.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("nothing to roll back"), "{err}");

        let args = PromoteArgs {
            version: second.clone(),
            json: true,
            conn: server.conn(),
        };
        let text = execute(DeploymentsCommand::Promote(args))
            .await
            .expect("promote");
        let answer: Value = serde_json::from_str(&text).expect("--json prints JSON");
        assert_eq!(answer["version"], json!(second), "{answer}");
        assert_eq!(answer["current"], json!(true), "{answer}");

        let args = PromoteArgs {
            version: "20000101.1".into(),
            json: false,
            conn: server.conn(),
        };
        let err = execute(DeploymentsCommand::Promote(args)).await;
        assert_eq!(
            err.err().map(|e| e.to_string()).as_deref(),
            Some("Deployment 20000101.1 was not found.")
        );
        server.stop().await;
    }
}
