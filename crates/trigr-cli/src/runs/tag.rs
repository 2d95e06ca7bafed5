//! `trigr runs tag`: add tags to a run.

use clap::builder::NonEmptyStringValueParser;

use crate::api::{Api, ApiError, ConnectionArgs};

/// Arguments of `trigr runs tag`.
#[derive(clap::Args, Debug, Clone)]
#[command(disable_version_flag = true)]
pub struct RunsTagArgs {
    /// Id of the run (run_…).
    #[arg(value_name = "RUN_ID", value_parser = NonEmptyStringValueParser::new())]
    pub id: String,

    /// The tags to add (a run has ten at most; the ones it has stay).
    #[arg(value_name = "TAG", required = true, value_parser = NonEmptyStringValueParser::new())]
    pub tags: Vec<String>,

    #[command(flatten)]
    pub conn: ConnectionArgs,
}

pub(super) async fn execute(args: RunsTagArgs) -> anyhow::Result<String> {
    let client = Api::connect(&args.conn)?;
    let added = client
        .sdk()
        .runs()
        .add_tags(&args.id, args.tags.clone())
        .await;
    let message =
        added.map_err(|e| ApiError::from(e).or_not_found(|| super::not_found(&args.id)))?;
    Ok(format!("{}: {message}\n", args.id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testserver::{tagged, task, TestServer};
    use serde_json::json;

    #[tokio::test]
    async fn adds_tags_and_refuses_an_eleventh() {
        let server = TestServer::start().await;
        server.deploy(vec![task("hello")]).await;
        let id = server.trigger("hello", &json!({}), tagged(&["a"])).await;
        let args = RunsTagArgs {
            id: id.clone(),
            tags: vec!["b".into(), "c".into()],
            conn: server.conn(),
        };
        let text = execute(args.clone()).await.expect("tag");
        assert_eq!(text, format!("{id}: Successfully set 2 new tags.\n"));
        assert_eq!(server.run(&id).await["tags"], json!(["a", "b", "c"]));

        let eight = (0..8).map(|i| format!("t{i}")).collect();
        let err = execute(RunsTagArgs {
            tags: eight,
            ..args.clone()
        })
        .await
        .expect_err("eleven tags");
        assert!(err.to_string().contains("10"), "{err}");
        assert_eq!(server.run(&id).await["tags"], json!(["a", "b", "c"]));

        let err = execute(RunsTagArgs {
            id: "run_old".into(),
            ..args
        })
        .await
        .expect_err("unknown run");
        assert_eq!(err.to_string(), "Run run_old was not found.");
        server.stop().await;
    }
}
