//! `trigr cache …` and `trigr env-metadata …`: the environment's two key–value stores from the
//! terminal — read an entry, write one (a cache entry always with a time to live, a metadata
//! entry with one or kept until deleted), take a lock, delete entries.
//!
//! Values are JSON on the command line, as the API stores them (`'{"on":true}'`, `'"text"'`,
//! `42`); `@FILE` reads a file and `-` standard input, like `trigr trigger --payload`.

use std::time::Duration;

use clap::builder::NonEmptyStringValueParser;
use serde_json::{json, Value};
use trigr_sdk::cache::Entry;

use crate::api::{Api, ApiError, ConnectionArgs};
use crate::output;
use crate::trigger::json_text;

/// Keys one `delete` may name: the API's limit for one call.
const MAX_KEYS: usize = 100;

/// Subcommands of `trigr cache`.
#[derive(clap::Subcommand, Debug)]
pub enum CacheCommand {
    /// Print the value under a key (exit status 1 with a message when there is none).
    Get(GetArgs),
    /// Store a value under a key for a time to live.
    Set(CacheSetArgs),
    /// Store a value only if no live entry holds the key: take a lock. Prints whether it did.
    Lock(CacheSetArgs),
    /// Delete entries; prints how many were alive.
    Delete(DeleteArgs),
}

/// Subcommands of `trigr env-metadata`.
#[derive(clap::Subcommand, Debug)]
pub enum EnvMetadataCommand {
    /// Print the value under a key (exit status 1 with a message when there is none).
    Get(GetArgs),
    /// Store a value under a key, kept until deleted or for `--ttl`.
    Set(MetadataSetArgs),
    /// Delete entries; prints how many were alive.
    Delete(DeleteArgs),
}

/// Arguments of `get`.
#[derive(clap::Args, Debug, Clone)]
pub struct GetArgs {
    /// The key (1 to 512 bytes).
    #[arg(value_name = "KEY", value_parser = NonEmptyStringValueParser::new())]
    pub key: String,

    /// Print the whole entry (key, value, expiry) as JSON instead of the value alone.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub conn: ConnectionArgs,
}

/// Arguments of `trigr cache set` and `trigr cache lock`.
#[derive(clap::Args, Debug, Clone)]
pub struct CacheSetArgs {
    /// The key (1 to 512 bytes).
    #[arg(value_name = "KEY", value_parser = NonEmptyStringValueParser::new())]
    pub key: String,

    /// The value as JSON (quote a string: '"text"'), `@FILE` or `-` for standard input.
    #[arg(value_name = "VALUE", allow_hyphen_values = true)]
    pub value: String,

    /// How long the entry lives: a duration (30s, 10m, 1h30m, 2d) or a number of seconds.
    #[arg(long, value_name = "TTL", value_parser = parse_ttl)]
    pub ttl: Duration,

    #[command(flatten)]
    pub conn: ConnectionArgs,
}

/// Arguments of `trigr env-metadata set`.
#[derive(clap::Args, Debug, Clone)]
pub struct MetadataSetArgs {
    /// The key (1 to 512 bytes).
    #[arg(value_name = "KEY", value_parser = NonEmptyStringValueParser::new())]
    pub key: String,

    /// The value as JSON (quote a string: '"text"'), `@FILE` or `-` for standard input.
    #[arg(value_name = "VALUE", allow_hyphen_values = true)]
    pub value: String,

    /// Delete the entry after this long (30s, 10m, 1h30m, 2d, or seconds); kept for good
    /// without it.
    #[arg(long, value_name = "TTL", value_parser = parse_ttl)]
    pub ttl: Option<Duration>,

    #[command(flatten)]
    pub conn: ConnectionArgs,
}

/// Arguments of `delete`.
#[derive(clap::Args, Debug, Clone)]
pub struct DeleteArgs {
    /// The keys (at most 100).
    #[arg(value_name = "KEY", required = true, num_args = 1..,
          value_parser = NonEmptyStringValueParser::new())]
    pub keys: Vec<String>,

    #[command(flatten)]
    pub conn: ConnectionArgs,
}

/// A time to live: a duration like `10m` or `1h30m`, or a number of seconds; at least 1 s.
fn parse_ttl(text: &str) -> Result<Duration, String> {
    let millis = match text.parse::<u64>() {
        Ok(seconds) => seconds.saturating_mul(1000),
        Err(_) => trigr_types::duration::parse(text)
            .map_err(|e| e.to_string())
            .map(|ms| u64::try_from(ms).unwrap_or(0))?,
    };
    if millis < 1000 {
        return Err("a time to live is at least one second".into());
    }
    Ok(Duration::from_millis(millis))
}

/// Runs one `trigr cache` subcommand and returns its output.
pub async fn execute_cache(cmd: CacheCommand) -> anyhow::Result<String> {
    match cmd {
        CacheCommand::Get(args) => {
            let api = Api::connect(&args.conn)?;
            let entry = api.sdk().cache().get_entry(&args.key).await;
            show(entry.map_err(ApiError::from)?, &args)
        }
        CacheCommand::Set(args) => {
            let (api, value) = prepare(&args.conn, &args.value)?;
            let cache = api.sdk().cache();
            cache
                .set(&args.key, &value, args.ttl)
                .await
                .map_err(ApiError::from)?;
            Ok(format!("Stored {} for {}.\n", args.key, seconds(args.ttl)))
        }
        CacheCommand::Lock(args) => {
            let (api, value) = prepare(&args.conn, &args.value)?;
            let cache = api.sdk().cache();
            let won = cache.set_if_not_exists(&args.key, &value, args.ttl).await;
            Ok(if won.map_err(ApiError::from)? {
                format!("Locked {} for {}.\n", args.key, seconds(args.ttl))
            } else {
                format!("Not locked: {} is held.\n", args.key)
            })
        }
        CacheCommand::Delete(args) => {
            let api = connect_for_delete(&args)?;
            let keys: Vec<&str> = args.keys.iter().map(String::as_str).collect();
            let deleted = api.sdk().cache().delete_many(&keys).await;
            Ok(deleted_sentence(deleted.map_err(ApiError::from)?))
        }
    }
}

/// Runs one `trigr env-metadata` subcommand and returns its output.
pub async fn execute_env_metadata(cmd: EnvMetadataCommand) -> anyhow::Result<String> {
    match cmd {
        EnvMetadataCommand::Get(args) => {
            let api = Api::connect(&args.conn)?;
            let entry = api.sdk().env_metadata().get_entry(&args.key).await;
            show(entry.map_err(ApiError::from)?, &args)
        }
        EnvMetadataCommand::Set(args) => {
            let (api, value) = prepare(&args.conn, &args.value)?;
            let metadata = api.sdk().env_metadata();
            metadata
                .set(&args.key, &value, args.ttl)
                .await
                .map_err(ApiError::from)?;
            Ok(match args.ttl {
                Some(ttl) => format!("Stored {} for {}.\n", args.key, seconds(ttl)),
                None => format!("Stored {}.\n", args.key),
            })
        }
        EnvMetadataCommand::Delete(args) => {
            let api = connect_for_delete(&args)?;
            let metadata = api.sdk().env_metadata();
            // The metadata API deletes one key per call; the keys are few (at most 100).
            let mut deleted = 0;
            for key in &args.keys {
                deleted += u64::from(metadata.delete(key).await.map_err(ApiError::from)?);
            }
            Ok(deleted_sentence(deleted))
        }
    }
}

/// The client and the value, checked before any request is sent.
fn prepare(conn: &ConnectionArgs, value: &str) -> anyhow::Result<(Api, Value)> {
    let value = serde_json::from_str(&json_text("VALUE", value)?)?;
    Ok((Api::connect(conn)?, value))
}

fn connect_for_delete(args: &DeleteArgs) -> anyhow::Result<Api> {
    if args.keys.len() > MAX_KEYS {
        anyhow::bail!(
            "At most {MAX_KEYS} keys can be deleted at once; {} were named.",
            args.keys.len()
        );
    }
    Api::connect(&args.conn)
}

fn show(entry: Option<Entry>, args: &GetArgs) -> anyhow::Result<String> {
    let Some(entry) = entry else {
        anyhow::bail!("No entry has the key {}.", args.key);
    };
    if args.json {
        let expires_at = entry.expires_at.map(|t| t.to_rfc3339());
        return Ok(output::json(&json!({
            "key": entry.key,
            "value": entry.value,
            "expiresAt": expires_at,
        })));
    }
    Ok(output::json(&entry.value))
}

fn seconds(ttl: Duration) -> String {
    match ttl.as_secs() {
        1 => "1 second".into(),
        n => format!("{n} seconds"),
    }
}

fn deleted_sentence(deleted: u64) -> String {
    match deleted {
        1 => "Deleted 1 entry.\n".into(),
        n => format!("Deleted {n} entries.\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testserver::TestServer;

    #[test]
    fn ttls_parse_as_durations_or_seconds() {
        assert_eq!(parse_ttl("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_ttl("1h30m"), Ok(Duration::from_secs(5400)));
        assert!(parse_ttl("0").is_err());
        assert!(parse_ttl("soon").unwrap_err().contains("not a duration"));
        // Saturates rather than overflowing; the server refuses what is too long.
        assert!(parse_ttl(&u64::MAX.to_string()).is_ok());
    }

    fn get(server: &TestServer, key: &str, json: bool) -> GetArgs {
        GetArgs {
            key: key.into(),
            json,
            conn: server.conn(),
        }
    }

    fn set(server: &TestServer, key: &str, value: &str, ttl: u64) -> CacheSetArgs {
        CacheSetArgs {
            key: key.into(),
            value: value.into(),
            ttl: Duration::from_secs(ttl),
            conn: server.conn(),
        }
    }

    fn delete(server: &TestServer, keys: &[&str]) -> DeleteArgs {
        DeleteArgs {
            keys: keys.iter().map(|k| k.to_string()).collect(),
            conn: server.conn(),
        }
    }

    fn err(result: anyhow::Result<String>) -> String {
        result.expect_err("should fail").to_string()
    }

    #[tokio::test]
    async fn cache_commands_store_read_lock_and_delete() {
        let server = TestServer::start().await;
        let text = execute_cache(CacheCommand::Set(set(&server, "k", r#"{"n":1}"#, 60))).await;
        assert_eq!(text.expect("set"), "Stored k for 60 seconds.\n");
        let text = execute_cache(CacheCommand::Get(get(&server, "k", false))).await;
        assert_eq!(text.expect("get"), "{\n  \"n\": 1\n}\n");
        let text = execute_cache(CacheCommand::Get(get(&server, "k", true))).await;
        let entry: Value = serde_json::from_str(&text.expect("get --json")).expect("JSON");
        assert_eq!(entry["key"], "k");
        assert_eq!(entry["value"], json!({"n": 1}));
        assert!(entry["expiresAt"].is_string(), "{entry}");

        let lock = || execute_cache(CacheCommand::Lock(set(&server, "lock", "\"w1\"", 30)));
        assert_eq!(lock().await.expect("lock"), "Locked lock for 30 seconds.\n");
        assert_eq!(lock().await.expect("lock"), "Not locked: lock is held.\n");

        let text = execute_cache(CacheCommand::Delete(delete(&server, &["k", "lock", "x"]))).await;
        assert_eq!(text.expect("delete"), "Deleted 2 entries.\n");
        let text = execute_cache(CacheCommand::Get(get(&server, "k", false))).await;
        assert_eq!(err(text), "No entry has the key k.");
        server.stop().await;
    }

    #[tokio::test]
    async fn bad_values_and_keys_fail_with_sentences() {
        let server = TestServer::start().await;
        let text = execute_cache(CacheCommand::Set(set(&server, "k", "nope", 60))).await;
        let text = err(text);
        assert!(text.starts_with("VALUE is not valid JSON"), "{text}");

        let long = "k".repeat(513);
        let text = execute_cache(CacheCommand::Set(set(&server, &long, "1", 60))).await;
        let text = err(text);
        assert!(
            text.starts_with("The server rejected the request (400)"),
            "{text}"
        );

        let keys: Vec<String> = (0..=MAX_KEYS).map(|i| format!("k{i}")).collect();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let text = execute_cache(CacheCommand::Delete(delete(&server, &keys))).await;
        assert_eq!(
            err(text),
            "At most 100 keys can be deleted at once; 101 were named."
        );
        server.stop().await;
    }

    #[tokio::test]
    async fn env_metadata_commands_keep_entries_until_deleted() {
        let server = TestServer::start().await;
        let args = MetadataSetArgs {
            key: "ctx".into(),
            value: r#"{"org":"o1"}"#.into(),
            ttl: None,
            conn: server.conn(),
        };
        let text = execute_env_metadata(EnvMetadataCommand::Set(args)).await;
        assert_eq!(text.expect("set"), "Stored ctx.\n");
        let text = execute_env_metadata(EnvMetadataCommand::Get(get(&server, "ctx", true))).await;
        let entry: Value = serde_json::from_str(&text.expect("get")).expect("JSON");
        assert_eq!(entry["value"], json!({"org": "o1"}));
        assert_eq!(entry["expiresAt"], Value::Null);

        let args = MetadataSetArgs {
            key: "session".into(),
            value: "true".into(),
            ttl: Some(Duration::from_secs(3600)),
            conn: server.conn(),
        };
        let text = execute_env_metadata(EnvMetadataCommand::Set(args)).await;
        assert_eq!(text.expect("set"), "Stored session for 3600 seconds.\n");

        // The cache and the metadata store are separate spaces.
        let text = execute_cache(CacheCommand::Get(get(&server, "ctx", false))).await;
        assert_eq!(err(text), "No entry has the key ctx.");

        let args = delete(&server, &["ctx", "session", "gone"]);
        let text = execute_env_metadata(EnvMetadataCommand::Delete(args)).await;
        assert_eq!(text.expect("delete"), "Deleted 2 entries.\n");
        server.stop().await;
    }
}
