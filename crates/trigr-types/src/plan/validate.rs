//! Checking a plan before any run exists (WORKFLOW-007): ids unique and well formed, every
//! dependency known, no cycle (named by its path, `a → b → c → a`), every request well formed,
//! and everything within [`Limits`].
//!
//! The checks are linear in the plan's size: limits on counts are checked before anything is
//! indexed, ids go into one hash map, and one depth-first walk over the dependency edges finds
//! a cycle and, when there is none, the order the runner journals actions in.

use std::collections::HashMap;

use super::model::{Action, ExecutionPlan, HttpAction};

/// How large a plan may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Actions per plan.
    pub max_actions: usize,
    /// Dependencies per action.
    pub max_dependencies: usize,
    /// Headers per request.
    pub max_headers: usize,
    /// Bytes of one request body as JSON.
    pub max_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_actions: 500,
            max_dependencies: 100,
            max_headers: 32,
            max_body_bytes: 256 * 1024,
        }
    }
}

/// Longest plan id.
pub const MAX_PLAN_ID: usize = 128;
/// Longest action id.
pub const MAX_ACTION_ID: usize = 64;
/// Longest URL.
pub const MAX_URL: usize = 4096;
/// Longest header name.
pub const MAX_HEADER_NAME: usize = 256;
/// Longest header value.
pub const MAX_HEADER_VALUE: usize = 8192;
/// Longest timeout of one try.
pub const MAX_TIMEOUT_MS: u64 = 600_000;
/// Most tries of one action.
pub const MAX_ATTEMPTS: u32 = 10;
/// Longest first backoff.
pub const MAX_INITIAL_BACKOFF_MS: u64 = 60_000;
/// Longest backoff.
pub const MAX_BACKOFF_MS: u64 = 300_000;
/// The header the runner sets on every request; a plan may not set it.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";

/// Why a plan is refused. Each names the action and the field at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The plan has no action.
    #[error("the plan has no actions")]
    Empty,
    /// The plan has more actions than [`Limits::max_actions`].
    #[error("the plan has {count} actions, more than the limit of {limit}")]
    TooManyActions { count: usize, limit: usize },
    /// The plan id is empty, too long, or has characters outside `A-Z a-z 0-9 _ - . :`.
    #[error("the plan id {0:?} must be 1-{MAX_PLAN_ID} characters of A-Z a-z 0-9 _ - . :")]
    PlanId(String),
    /// An action id is empty, too long, or has characters outside `A-Z a-z 0-9 _ -`.
    #[error("the action id {0:?} must be 1-{MAX_ACTION_ID} characters of A-Z a-z 0-9 _ -")]
    ActionId(String),
    /// Two actions share an id.
    #[error("two actions have the id \"{0}\"")]
    DuplicateId(String),
    /// An action has more dependencies than [`Limits::max_dependencies`].
    #[error("action \"{action}\" has {count} dependencies, more than the limit of {limit}")]
    TooManyDependencies {
        action: String,
        count: usize,
        limit: usize,
    },
    /// An action lists the same dependency twice.
    #[error("action \"{action}\" lists the dependency \"{dependency}\" twice")]
    RepeatedDependency { action: String, dependency: String },
    /// An action depends on an id no action has.
    #[error("action \"{action}\" depends on \"{dependency}\", which is not an action of the plan")]
    UnknownDependency { action: String, dependency: String },
    /// The dependencies go round: the path starts and ends at the same action.
    #[error("the dependencies form a cycle: {}", .0.join(" → "))]
    Cycle(Vec<String>),
    /// A request field is wrong.
    #[error("action \"{action}\": {problem}")]
    Request { action: String, problem: String },
}

/// Checks `plan` and answers the order the runner uses: indices into `plan.actions`, each after
/// all its dependencies (the actions' own order where the dependencies allow).
pub fn validate(plan: &ExecutionPlan, limits: &Limits) -> Result<Vec<usize>, Error> {
    let actions = &plan.actions;
    if actions.is_empty() {
        return Err(Error::Empty);
    }
    if actions.len() > limits.max_actions {
        return Err(Error::TooManyActions {
            count: actions.len(),
            limit: limits.max_actions,
        });
    }
    if !valid_id(&plan.id, MAX_PLAN_ID, |c| {
        matches!(c, '_' | '-' | '.' | ':')
    }) {
        return Err(Error::PlanId(plan.id.clone()));
    }
    let index = index_ids(actions)?;
    for action in actions {
        check_request(action, limits)?;
    }
    let edges = resolve_dependencies(actions, &index, limits)?;
    order(actions, &edges)
}

fn valid_id(id: &str, max: usize, extra: impl Fn(char) -> bool) -> bool {
    !id.is_empty() && id.len() <= max && id.chars().all(|c| c.is_ascii_alphanumeric() || extra(c))
}

/// Action id → index, refusing malformed and repeated ids.
fn index_ids(actions: &[Action]) -> Result<HashMap<&str, usize>, Error> {
    let mut index = HashMap::with_capacity(actions.len());
    for (i, action) in actions.iter().enumerate() {
        if !valid_id(&action.id, MAX_ACTION_ID, |c| matches!(c, '_' | '-')) {
            return Err(Error::ActionId(action.id.clone()));
        }
        if index.insert(action.id.as_str(), i).is_some() {
            return Err(Error::DuplicateId(action.id.clone()));
        }
    }
    Ok(index)
}

/// Each action's dependencies as indices.
fn resolve_dependencies(
    actions: &[Action],
    index: &HashMap<&str, usize>,
    limits: &Limits,
) -> Result<Vec<Vec<usize>>, Error> {
    // `listed_by[d] == i + 1` once action `i` listed `d`: repeats found without a set per action.
    let mut listed_by = vec![0usize; actions.len()];
    let mut edges = Vec::with_capacity(actions.len());
    for (i, action) in actions.iter().enumerate() {
        if action.depends_on.len() > limits.max_dependencies {
            return Err(Error::TooManyDependencies {
                action: action.id.clone(),
                count: action.depends_on.len(),
                limit: limits.max_dependencies,
            });
        }
        let mut deps = Vec::with_capacity(action.depends_on.len());
        for dependency in &action.depends_on {
            let Some(&d) = index.get(dependency.as_str()) else {
                return Err(Error::UnknownDependency {
                    action: action.id.clone(),
                    dependency: dependency.clone(),
                });
            };
            if listed_by[d] == i + 1 {
                return Err(Error::RepeatedDependency {
                    action: action.id.clone(),
                    dependency: dependency.clone(),
                });
            }
            listed_by[d] = i + 1;
            deps.push(d);
        }
        edges.push(deps);
    }
    Ok(edges)
}

/// Where an action is in the depth-first walk.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mark {
    Unseen,
    /// On the walk's path, at this depth.
    OnPath(usize),
    Done,
}

/// A topological order (dependencies first), or the first cycle found, as its path.
fn order(actions: &[Action], edges: &[Vec<usize>]) -> Result<Vec<usize>, Error> {
    let mut marks = vec![Mark::Unseen; actions.len()];
    let mut order = Vec::with_capacity(actions.len());
    // The walk's path: (action, how many of its dependencies were followed).
    let mut path: Vec<(usize, usize)> = Vec::new();
    for root in 0..actions.len() {
        if marks[root] != Mark::Unseen {
            continue;
        }
        marks[root] = Mark::OnPath(0);
        path.push((root, 0));
        while let Some(&mut (node, ref mut next)) = path.last_mut() {
            let Some(&dep) = edges[node].get(*next) else {
                marks[node] = Mark::Done;
                order.push(node);
                path.pop();
                continue;
            };
            *next += 1;
            match marks[dep] {
                Mark::Done => {}
                Mark::OnPath(depth) => return Err(cycle(actions, &path[depth..], dep)),
                Mark::Unseen => {
                    marks[dep] = Mark::OnPath(path.len());
                    path.push((dep, 0));
                }
            }
        }
    }
    Ok(order)
}

fn cycle(actions: &[Action], path: &[(usize, usize)], back_to: usize) -> Error {
    let mut ids: Vec<String> = path.iter().map(|&(i, _)| actions[i].id.clone()).collect();
    ids.push(actions[back_to].id.clone());
    Error::Cycle(ids)
}

fn check_request(action: &Action, limits: &Limits) -> Result<(), Error> {
    let problem = request_problem(&action.http, limits).or_else(|| retry_problem(action));
    problem.map_or(Ok(()), |problem| {
        Err(Error::Request {
            action: action.id.clone(),
            problem,
        })
    })
}

fn request_problem(http: &HttpAction, limits: &Limits) -> Option<String> {
    if let Some(problem) = url_problem(&http.url) {
        return Some(problem);
    }
    if http.timeout_ms == 0 || http.timeout_ms > MAX_TIMEOUT_MS {
        return Some(format!(
            "http.timeoutMs is {}, it must be 1-{MAX_TIMEOUT_MS}",
            http.timeout_ms
        ));
    }
    if let Some(problem) = headers_problem(http, limits) {
        return Some(problem);
    }
    if let Some(body) = &http.body {
        let size = serde_json::to_vec(body).map_or(usize::MAX, |b| b.len());
        if size > limits.max_body_bytes {
            return Some(format!(
                "http.body is {size} bytes of JSON, more than the limit of {}",
                limits.max_body_bytes
            ));
        }
    }
    None
}

fn url_problem(raw: &str) -> Option<String> {
    if raw.len() > MAX_URL {
        return Some(format!(
            "http.url is {} characters, more than {MAX_URL}",
            raw.len()
        ));
    }
    let url = match url::Url::parse(raw) {
        Ok(url) => url,
        Err(e) => return Some(format!("http.url {raw:?} is not a URL: {e}")),
    };
    if !matches!(url.scheme(), "http" | "https") {
        return Some(format!("http.url {raw:?} must be http:// or https://"));
    }
    if url.host().is_none() {
        return Some(format!("http.url {raw:?} has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Some(format!(
            "http.url {raw:?} has credentials in it; send them in a header"
        ));
    }
    None
}

fn headers_problem(http: &HttpAction, limits: &Limits) -> Option<String> {
    if http.headers.len() > limits.max_headers {
        return Some(format!(
            "http.headers has {} entries, more than the limit of {}",
            http.headers.len(),
            limits.max_headers
        ));
    }
    for (name, value) in &http.headers {
        let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
        if name.is_empty() || name.len() > MAX_HEADER_NAME || !name.chars().all(token) {
            return Some(format!("the header name {name:?} is not a valid HTTP header name of at most {MAX_HEADER_NAME} characters"));
        }
        if name.eq_ignore_ascii_case(IDEMPOTENCY_HEADER) {
            return Some(
                "the header Idempotency-Key is set by the runner (run id and action id)".into(),
            );
        }
        if value.len() > MAX_HEADER_VALUE || value.chars().any(|c| c.is_control() && c != '\t') {
            return Some(format!("the value of header {name:?} must be at most {MAX_HEADER_VALUE} characters without control characters"));
        }
    }
    None
}

fn retry_problem(action: &Action) -> Option<String> {
    let r = &action.retry;
    if r.attempts == 0 || r.attempts > MAX_ATTEMPTS {
        return Some(format!(
            "retry.attempts is {}, it must be 1-{MAX_ATTEMPTS}",
            r.attempts
        ));
    }
    let b = &r.backoff;
    if b.initial_ms > MAX_INITIAL_BACKOFF_MS {
        return Some(format!(
            "retry.backoff.initialMs is {}, more than {MAX_INITIAL_BACKOFF_MS}",
            b.initial_ms
        ));
    }
    if b.max_ms > MAX_BACKOFF_MS {
        return Some(format!(
            "retry.backoff.maxMs is {}, more than {MAX_BACKOFF_MS}",
            b.max_ms
        ));
    }
    if !(1.0..=10.0).contains(&b.factor) {
        return Some(format!(
            "retry.backoff.factor is {}, it must be 1-10",
            b.factor
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plan(actions: serde_json::Value) -> ExecutionPlan {
        let mut actions = actions;
        for a in actions.as_array_mut().expect("an array") {
            a["http"] = json!({"method": "GET", "url": "http://127.0.0.1:9/x"});
        }
        serde_json::from_value(json!({"id": "p-1", "actions": actions})).expect("a plan")
    }

    fn check(p: &ExecutionPlan) -> Result<Vec<usize>, Error> {
        validate(p, &Limits::default())
    }

    #[test]
    fn a_diamond_is_ordered_dependencies_first() {
        let p = plan(json!([
            {"id": "d", "dependsOn": ["b", "c"]},
            {"id": "b", "dependsOn": ["a"]},
            {"id": "c", "dependsOn": ["a"]},
            {"id": "a"}
        ]));
        let order = check(&p).expect("valid");
        let ids: Vec<&str> = order.iter().map(|&i| p.actions[i].id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c", "d"]);
    }

    #[test]
    fn a_cycle_is_named_by_its_path() {
        let p = plan(json!([
            {"id": "start"},
            {"id": "a", "dependsOn": ["start", "b"]},
            {"id": "b", "dependsOn": ["c"]},
            {"id": "c", "dependsOn": ["a"]}
        ]));
        let err = check(&p).expect_err("a cycle");
        assert_eq!(
            err,
            Error::Cycle(vec!["a".into(), "b".into(), "c".into(), "a".into()])
        );
        assert_eq!(
            err.to_string(),
            "the dependencies form a cycle: a → b → c → a"
        );

        let own = plan(json!([{"id": "x", "dependsOn": ["x"]}]));
        assert_eq!(
            check(&own).expect_err("self").to_string(),
            "the dependencies form a cycle: x → x"
        );
    }

    #[test]
    fn unknown_repeated_and_duplicate_ids_are_named() {
        let unknown = plan(json!([{"id": "a", "dependsOn": ["ghost"]}]));
        assert_eq!(
            check(&unknown).expect_err("unknown").to_string(),
            "action \"a\" depends on \"ghost\", which is not an action of the plan"
        );
        let twice = plan(json!([{"id": "a"}, {"id": "b", "dependsOn": ["a", "a"]}]));
        assert!(matches!(
            check(&twice),
            Err(Error::RepeatedDependency { .. })
        ));
        let dup = plan(json!([{"id": "a"}, {"id": "a"}]));
        assert_eq!(check(&dup), Err(Error::DuplicateId("a".into())));
        let bad = plan(json!([{"id": "a.b"}]));
        assert_eq!(check(&bad), Err(Error::ActionId("a.b".into())));
        let empty = plan(json!([]));
        assert_eq!(check(&empty), Err(Error::Empty));
    }

    #[test]
    fn limits_are_checked_before_the_walk() {
        let many: Vec<_> = (0..501).map(|i| json!({"id": format!("a{i}")})).collect();
        assert_eq!(
            check(&plan(json!(many))),
            Err(Error::TooManyActions {
                count: 501,
                limit: 500
            })
        );
        let deps: Vec<String> = (0..101).map(|i| format!("a{i}")).collect();
        let mut actions: Vec<_> = (0..101).map(|i| json!({"id": format!("a{i}")})).collect();
        actions.push(json!({"id": "wide", "dependsOn": deps}));
        assert!(matches!(
            check(&plan(json!(actions))),
            Err(Error::TooManyDependencies {
                count: 101,
                limit: 100,
                ..
            })
        ));
    }

    #[test]
    fn requests_are_checked() {
        let cases = [
            (
                json!({"method": "GET", "url": "ftp://x/"}),
                "must be http:// or https://",
            ),
            (json!({"method": "GET", "url": "not a url"}), "is not a URL"),
            (
                json!({"method": "GET", "url": "http://u:p@x/"}),
                "credentials",
            ),
            (
                json!({"method": "GET", "url": "http://x/", "timeoutMs": 0}),
                "timeoutMs is 0",
            ),
            (
                json!({"method": "GET", "url": "http://x/", "headers": {"Idempotency-Key": "k"}}),
                "set by the runner",
            ),
            (
                json!({"method": "GET", "url": "http://x/", "headers": {"bad name": "v"}}),
                "not a valid HTTP header name",
            ),
            (
                json!({"method": "GET", "url": "http://x/", "headers": {"x": "a\r\nb"}}),
                "without control characters",
            ),
        ];
        for (http, expected) in cases {
            let p: ExecutionPlan = serde_json::from_value(json!({
                "id": "p", "actions": [{"id": "a", "http": http}]
            }))
            .expect("a plan");
            let err = check(&p).expect_err("refused").to_string();
            assert!(err.contains(expected), "{http}: {err}");
        }
        let p: ExecutionPlan = serde_json::from_value(json!({
            "id": "p", "actions": [{"id": "a", "http": {"method": "GET", "url": "http://x/"},
                "retry": {"attempts": 11}}]
        }))
        .expect("a plan");
        assert!(check(&p)
            .expect_err("refused")
            .to_string()
            .contains("retry.attempts is 11"));
    }

    #[test]
    fn a_long_chain_is_walked_without_recursion() {
        let n = 500;
        let actions: Vec<_> = (0..n)
            .map(|i| {
                if i == 0 {
                    json!({"id": "a0"})
                } else {
                    json!({"id": format!("a{i}"), "dependsOn": [format!("a{}", i - 1)]})
                }
            })
            .rev()
            .collect();
        let p = plan(json!(actions));
        let order = check(&p).expect("valid");
        assert_eq!(p.actions[order[0]].id, "a0");
        assert_eq!(p.actions[order[n - 1]].id, format!("a{}", n - 1));
    }
}
