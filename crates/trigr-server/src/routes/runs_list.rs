//! `GET /api/v1/runs`: filters and cursor pagination (reference §3.2).

use axum::extract::{Query, State};
use axum::response::IntoResponse;
use serde_json::{json, Map, Value};
use trigr_store::RunFilter;
use trigr_types::{duration, RunStatus, MACHINES};

use crate::error::{ApiError, ApiResult};
use crate::extract::KeyOrToken;
use crate::{views, AppState};

const DEFAULT_PAGE: usize = 25;
const MAX_PAGE: usize = 100;

struct ListQuery {
    filter: RunFilter,
    queue_names: Vec<String>,
    size: usize,
    after: Option<String>,
    before: Option<String>,
}

pub(super) fn list_of(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

pub(super) fn millis(name: &str, v: &str) -> ApiResult<i64> {
    v.trim()
        .parse::<i64>()
        .ok()
        .or_else(|| duration::parse_date(v))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "{name} must be milliseconds since the epoch or an ISO 8601 date, got '{v}'"
            ))
        })
}

fn parse(params: Vec<(String, String)>, now: i64) -> ApiResult<ListQuery> {
    let mut q = ListQuery {
        filter: RunFilter::default(),
        queue_names: Vec::new(),
        size: DEFAULT_PAGE,
        after: None,
        before: None,
    };
    for (k, v) in params {
        let f = &mut q.filter;
        match k.as_str() {
            "filter[status]" => {
                f.statuses = list_of(&v)
                    .iter()
                    .map(|s| {
                        s.parse::<RunStatus>()
                            .map_err(|e| ApiError::bad_request(format!("filter[status]: {e}")))
                    })
                    .collect::<ApiResult<_>>()?
            }
            "filter[taskIdentifier]" => f.tasks = list_of(&v),
            "filter[version]" => f.versions = list_of(&v),
            "filter[tag]" => f.tags = list_of(&v),
            "filter[batch]" => f.batch_id = Some(v),
            "filter[queue]" => q.queue_names = list_of(&v),
            "filter[machine]" => {
                f.machines = list_of(&v);
                if let Some(bad) = f.machines.iter().find(|m| !MACHINES.contains(&m.as_str())) {
                    return Err(ApiError::bad_request(format!(
                        "filter[machine]: unknown machine '{bad}'"
                    )));
                }
            }
            "filter[isTest]" => {
                f.is_test = Some(match v.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => {
                        return Err(ApiError::bad_request(
                            "filter[isTest] must be true or false",
                        ))
                    }
                })
            }
            "filter[createdAt][from]" => {
                f.created_from = Some(millis("filter[createdAt][from]", &v)?)
            }
            "filter[createdAt][to]" => f.created_to = Some(millis("filter[createdAt][to]", &v)?),
            "filter[createdAt][period]" => {
                let ms = duration::parse(&v).map_err(|e| {
                    ApiError::bad_request(format!("filter[createdAt][period]: {e}"))
                })?;
                f.created_from = Some(now - ms);
            }
            "page[size]" => {
                q.size = v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_PAGE).contains(n))
                    .ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "page[size] must be between 1 and {MAX_PAGE}"
                        ))
                    })?
            }
            "page[after]" => q.after = Some(v).filter(|s| !s.is_empty()),
            "page[before]" => q.before = Some(v).filter(|s| !s.is_empty()),
            _ => {}
        }
    }
    // Queue filters name task queues by task id (`task/x`) or custom queues by name.
    Ok(q)
}

pub async fn list(
    State(state): State<AppState>,
    KeyOrToken(auth): KeyOrToken,
    headers: axum::http::HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
) -> ApiResult<impl IntoResponse> {
    let q = parse(params, state.engine.now())?;
    let task_scopes: Vec<String> = q
        .filter
        .tasks
        .iter()
        .map(|t| format!("read:tasks:{t}"))
        .collect();
    let by_task = !task_scopes.is_empty()
        && task_scopes
            .iter()
            .all(|s| auth.allows(std::slice::from_ref(s)));
    if !(auth.allows(&["read:runs".to_string()]) || by_task) {
        return Err(auth.forbidden("list runs"));
    }
    let backwards = q.before.is_some();
    let had_cursor = q.after.is_some() || q.before.is_some();
    let mut runs = state
        .engine
        .list_runs(
            &auth.env_id,
            q.filter,
            q.size,
            q.after,
            q.before,
            q.queue_names,
        )
        .await?;
    let more = runs.len() > q.size;
    if more {
        if backwards {
            runs.remove(0);
        } else {
            runs.truncate(q.size);
        }
    }
    let mut pagination = Map::new();
    let (first, last) = (
        runs.first().map(|r| r.id.clone()),
        runs.last().map(|r| r.id.clone()),
    );
    let (has_next, has_prev) = if backwards {
        (true, more)
    } else {
        (more, had_cursor)
    };
    if has_next {
        if let Some(l) = last {
            pagination.insert("next".into(), Value::String(l));
        }
    }
    if has_prev {
        if let Some(f) = first {
            pagination.insert("previous".into(), Value::String(f));
        }
    }
    let legacy = views::wants_legacy_statuses(&headers);
    let data: Vec<Value> = runs
        .iter()
        .map(|r| {
            let mut item = views::run_list_item(r, &auth.slug);
            if legacy {
                views::legacy_run(&mut item);
            }
            item
        })
        .collect();
    Ok(axum::Json(
        json!({ "data": data, "pagination": pagination }),
    ))
}
