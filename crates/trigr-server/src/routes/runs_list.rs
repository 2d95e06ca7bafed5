//! `GET /api/v1/runs`: filters and cursor pagination (reference §3.2).

use axum::extract::{Query, State};
use axum::response::IntoResponse;
use trigr_store::RunFilter;
use trigr_types::wire::common::CursorPagination;
use trigr_types::wire::runs::RunList;
use trigr_types::{duration, RunStatus, MACHINES};

use crate::error::{ApiError, ApiResult};
use crate::extract::{whole_number, KeyOrToken};
use crate::{views, AppState};

/// Items on a page when `page[size]` is absent.
const DEFAULT_PAGE: usize = 25;
/// Most items on a page (`page[size]`); more is a 400.
const MAX_PAGE: usize = 100;

pub struct ListQuery {
    pub filter: RunFilter,
    pub queue_names: Vec<String>,
    pub page: Paging,
}

/// The page parameters of a cursor-paged list.
pub struct Paging {
    pub size: usize,
    pub after: Option<String>,
    pub before: Option<String>,
}

impl Paging {
    pub(super) fn new() -> Paging {
        Paging {
            size: DEFAULT_PAGE,
            after: None,
            before: None,
        }
    }

    /// Applies one of the parameters every cursor-paged list shares (`page[size|after|before]`
    /// here, `filter[createdAt][from|to|period]` into `created`); false for any other.
    pub(super) fn take(
        &mut self,
        k: &str,
        v: &str,
        now: i64,
        created: (&mut Option<i64>, &mut Option<i64>),
    ) -> ApiResult<bool> {
        match k {
            "filter[createdAt][from]" => *created.0 = Some(millis(k, v)?),
            "filter[createdAt][to]" => *created.1 = Some(millis(k, v)?),
            "filter[createdAt][period]" => {
                let ms =
                    duration::parse(v).map_err(|e| ApiError::bad_request(format!("{k}: {e}")))?;
                *created.0 = Some(now - ms);
            }
            "page[size]" => self.size = whole_number(k, v, 1, MAX_PAGE as u64)? as usize,
            "page[after]" => self.after = Some(v.to_string()).filter(|s| !s.is_empty()),
            "page[before]" => self.before = Some(v.to_string()).filter(|s| !s.is_empty()),
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// Most values of one list filter: each becomes a parameter of the store's query.
pub const MAX_FILTER_VALUES: usize = 100;

/// The comma-separated values of filter `name`, at most [`MAX_FILTER_VALUES`].
pub(super) fn list_of(name: &str, v: &str) -> ApiResult<Vec<String>> {
    let values: Vec<String> = v
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .take(MAX_FILTER_VALUES + 1)
        .map(str::to_string)
        .collect();
    if values.len() > MAX_FILTER_VALUES {
        return Err(ApiError::bad_request(format!(
            "{name} may list at most {MAX_FILTER_VALUES} values"
        )));
    }
    Ok(values)
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

pub fn parse(params: Vec<(String, String)>, now: i64) -> ApiResult<ListQuery> {
    let mut q = ListQuery {
        filter: RunFilter::default(),
        queue_names: Vec::new(),
        page: Paging::new(),
    };
    for (k, v) in params {
        let f = &mut q.filter;
        if q.page
            .take(&k, &v, now, (&mut f.created_from, &mut f.created_to))?
        {
            continue;
        }
        match k.as_str() {
            "filter[status]" => {
                f.statuses = list_of(&k, &v)?
                    .iter()
                    .map(|s| {
                        s.parse::<RunStatus>()
                            .map_err(|e| ApiError::bad_request(format!("filter[status]: {e}")))
                    })
                    .collect::<ApiResult<_>>()?
            }
            "filter[taskIdentifier]" => f.tasks = list_of(&k, &v)?,
            "filter[version]" => f.versions = list_of(&k, &v)?,
            "filter[tag]" => f.tags = list_of(&k, &v)?,
            "filter[batch]" => f.batch_id = Some(v),
            "filter[schedule]" if !v.trim().is_empty() => f.schedule_id = Some(v),
            "filter[queue]" => q.queue_names = list_of(&k, &v)?,
            "filter[machine]" => {
                f.machines = list_of(&k, &v)?;
                if let Some(bad) = f.machines.iter().find(|m| !MACHINES.contains(&m.as_str())) {
                    return Err(ApiError::bad_request(format!(
                        "filter[machine]: unknown machine '{bad}'"
                    )));
                }
            }
            "filter[region]" => {
                f.regions = list_of(&k, &v)?;
                for region in &f.regions {
                    trigr_engine::trigger::check_region(Some(region.clone()), "filter[region]")?;
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
            // Named by the reference but not implemented: refused, never ignored. Runs do
            // not record a bulk action, and errors are not searchable. An empty value is the
            // same as none.
            "filter[bulkAction]" | "filter[error]" if !v.trim().is_empty() => {
                return Err(trigr_engine::trigger::unsupported(&k).into());
            }
            _ => {}
        }
    }
    // Queue filters name task queues by task id (`task/x`) or custom queues by name.
    Ok(q)
}

#[utoipa::path(
    get,
    path = "/api/v1/runs",
    tag = "runs",
    operation_id = "listRuns",
    security(("secretKey" = []), ("publicAccessToken" = [])),
    params(
        ("filter[status]" = Option<String>, Query, description = "Comma-separated statuses"),
        ("filter[taskIdentifier]" = Option<String>, Query, description = "Comma-separated task ids"),
        ("filter[version]" = Option<String>, Query, description = "Comma-separated versions"),
        ("filter[tag]" = Option<String>, Query, description = "Comma-separated tags"),
        ("filter[batch]" = Option<String>, Query, description = "A batch id"),
        ("filter[schedule]" = Option<String>, Query, description = "A schedule id: the runs it made"),
        ("filter[queue]" = Option<String>, Query, description = "Comma-separated queue names (`task/<id>` for a task's own queue)"),
        ("filter[machine]" = Option<String>, Query, description = "Comma-separated machine presets"),
        ("filter[region]" = Option<String>, Query, description = "Comma-separated regions"),
        ("filter[isTest]" = Option<bool>, Query, description = "Test runs only, or none"),
        ("filter[createdAt][from]" = Option<String>, Query, description = "Created at or after: milliseconds since the epoch or an ISO 8601 date"),
        ("filter[createdAt][to]" = Option<String>, Query, description = "Created at or before: milliseconds since the epoch or an ISO 8601 date"),
        ("filter[createdAt][period]" = Option<String>, Query, description = "Created within this duration before now (`1h`, `7d`)"),
        ("page[size]" = Option<u32>, Query, minimum = 1, maximum = 100, description = "Items a page"),
        ("page[after]" = Option<String>, Query, description = "The previous page's pagination.next"),
        ("page[before]" = Option<String>, Query, description = "The next page's pagination.previous"),
        ("x-trigger-api-version" = Option<String>, Header, description = "`2025-07-16` for the current status names; any other value (or none) gets the legacy ones"),
    ),
    responses(
        (status = 200, description = "A page of runs, newest first", body = RunList),
    ),
)]
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
    let backwards = q.page.before.is_some();
    let had_cursor = q.page.after.is_some() || q.page.before.is_some();
    let mut runs = state
        .engine
        .list_runs(
            &auth.env_id,
            q.filter,
            q.page.size,
            q.page.after,
            q.page.before,
            q.queue_names,
        )
        .await?;
    let more = runs.len() > q.page.size;
    if more {
        if backwards {
            runs.remove(0);
        } else {
            runs.truncate(q.page.size);
        }
    }
    let (has_next, has_prev) = if backwards {
        (true, more)
    } else {
        (more, had_cursor)
    };
    let pagination = CursorPagination {
        next: runs.last().filter(|_| has_next).map(|r| r.id.clone()),
        previous: runs.first().filter(|_| has_prev).map(|r| r.id.clone()),
    };
    let legacy = views::wants_legacy_statuses(&headers);
    let data = runs
        .iter()
        .map(|r| {
            let mut item = views::run_list_item(r, &auth.slug);
            if legacy {
                views::legacy_status(&mut item.common);
            }
            item
        })
        .collect();
    Ok(axum::Json(RunList { data, pagination }))
}
