//! An environment's AI tool definitions: read back whole, by name and in pages; one
//! conditional insert refuses a taken name and an environment at its limit; environments
//! apart; updates and deletes report whether the tool was there.

use trigr_store::{AiTool, Store};

use super::{read, write, NOW};

fn tool(env: &str, name: &str) -> AiTool {
    AiTool {
        id: format!("aitool_{env}_{name}"),
        env_id: env.to_string(),
        name: name.to_string(),
        description: "Does it \u{e9}".to_string(),
        task_id: "task/a".to_string(),
        parameters: r#"{"type":"object"}"#.to_string(),
        display: r#"{"title":"T"}"#.to_string(),
        created_at: NOW,
        updated_at: NOW,
    }
}

async fn insert(store: &Store, t: AiTool, max: usize) -> bool {
    write(store, move |tx| tx.insert_ai_tool(&t, max)).await
}

async fn names(store: &Store, env: &str, offset: usize, limit: usize) -> Vec<String> {
    let env = env.to_string();
    let tools = read(store, move |tx| tx.ai_tools(&env, offset, limit)).await;
    tools.into_iter().map(|t| t.name).collect()
}

pub async fn ai_tools_are_kept_per_environment_within_a_limit(store: &Store) {
    assert!(insert(store, tool("env_a", "b"), 3).await);
    assert!(insert(store, tool("env_a", "a"), 3).await);
    let mut taken = tool("env_a", "a");
    taken.id = "aitool_other".into();
    assert!(!insert(store, taken, 3).await, "a taken name");
    assert!(
        insert(store, tool("env_b", "a"), 3).await,
        "another environment"
    );
    assert!(insert(store, tool("env_a", "c"), 3).await);
    assert!(!insert(store, tool("env_a", "d"), 3).await, "the limit");

    assert_eq!(names(store, "env_a", 0, 10).await, ["a", "b", "c"]);
    assert_eq!(names(store, "env_a", 1, 1).await, ["b"]);
    let count = read(store, |tx| tx.ai_tool_count("env_a")).await;
    assert_eq!(count, 3);
    let got = read(store, |tx| tx.ai_tool("env_a", "a")).await;
    assert_eq!(got, Some(tool("env_a", "a")));

    let mut changed = tool("env_a", "a");
    changed.description = "New".into();
    changed.task_id = "task/b".into();
    changed.parameters = r#"{"type":"object","properties":{}}"#.into();
    changed.display = "{}".into();
    changed.updated_at = NOW + 5;
    let c = changed.clone();
    assert!(write(store, move |tx| tx.update_ai_tool(&c)).await);
    let got = read(store, |tx| tx.ai_tool("env_a", "a")).await;
    assert_eq!(got, Some(changed));
    let got = read(store, |tx| tx.ai_tool("env_b", "a")).await;
    assert_eq!(
        got,
        Some(tool("env_b", "a")),
        "the other environment's is unchanged"
    );
    let mut missing = tool("env_a", "zz");
    missing.id = "aitool_missing".into();
    assert!(!write(store, move |tx| tx.update_ai_tool(&missing)).await);

    assert!(write(store, |tx| tx.delete_ai_tool("env_a", "a")).await);
    assert!(!write(store, |tx| tx.delete_ai_tool("env_a", "a")).await);
    assert_eq!(names(store, "env_a", 0, 10).await, ["b", "c"]);
    assert!(insert(store, tool("env_a", "d"), 3).await, "room again");
}

/// Writers holding the environment's tool lock count one after the other: of many concurrent
/// inserts of other names into an environment one short of its limit, exactly one is made.
pub async fn concurrent_ai_tool_inserts_never_pass_the_limit(store: &Store) {
    super::seed_env(store, "env_race").await;
    for name in ["a", "b"] {
        assert!(insert(store, tool("env_race", name), 3).await);
    }
    let mut set = tokio::task::JoinSet::new();
    for i in 0..8 {
        let store = store.clone();
        set.spawn(async move {
            let t = tool("env_race", &format!("n{i}"));
            write(&store, move |tx| {
                tx.lock_ai_tools("env_race")?;
                tx.insert_ai_tool(&t, 3)
            })
            .await
        });
    }
    let mut made = 0;
    while let Some(won) = set.join_next().await {
        made += usize::from(won.expect("task"));
    }
    assert_eq!(made, 1, "one insert fits under the limit");
    assert_eq!(read(store, |tx| tx.ai_tool_count("env_race")).await, 3);
}
