//! Schedules API (reference §4.1): `{id}` is a schedule id (`sched_…`) or its
//! deduplication key.

use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use serde::Deserialize;
use trigr_engine::schedules::{self, cron};
use trigr_store::{Schedule, ScheduleFilter};
use trigr_types::wire::common::Id;
use trigr_types::wire::manage::{
    self as wire, ScheduleEnvironment, ScheduleGenerator, ScheduleList, Timezones,
};
use trigr_types::wire::rest::{ScheduleBody, ScheduleUpdate};
use trigr_types::wire::Timestamp;

use super::offset_page::OffsetPage;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, Json};
use crate::AppState;

/// The schedule object of the reference. `nextRun` is the next nominal tick,
/// `nextRunEffectiveAt` when it fires (after the window's offset); `window` is omitted when
/// the schedule has none.
fn view(s: &Schedule, auth: &Auth) -> wire::Schedule {
    let next = s.next_run_at.filter(|_| s.active);
    wire::Schedule {
        id: s.id.clone(),
        kind: s.kind.as_str().to_string(),
        task: s.task_id.clone(),
        active: s.active,
        deduplication_key: s.dedup_key.clone(),
        external_id: s.external_id.clone(),
        generator: ScheduleGenerator {
            kind: "CRON".into(),
            expression: s.cron.clone(),
            description: schedules::describe(s),
        },
        timezone: s.timezone.clone(),
        next_run: next.and(schedules::next_nominal(s)).map(Timestamp),
        next_run_effective_at: next.map(Timestamp),
        environments: vec![ScheduleEnvironment {
            id: s.env_id.clone(),
            kind: auth.kind.as_str().to_string(),
            user_name: None,
        }],
        window: s.window.clone(),
        payload: json_object(s.run.payload.as_deref()),
        metadata: json_object(s.run.metadata.as_deref()),
        machine: s.run.machine.clone(),
        tags: s.run.tags.clone(),
    }
}

/// A stored JSON object's text as JSON.
fn json_object(text: Option<&str>) -> Option<serde_json::Value> {
    text.and_then(|t| serde_json::from_str(t).ok())
}

/// The list filters: `tag` (once) and `active` (`true` or `false`, once).
fn list_filter(params: &[(String, String)]) -> ApiResult<ScheduleFilter> {
    let tag = once(params, "tag")?.map(str::to_string);
    let active = match once(params, "active")? {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => return Err(ApiError::bad_request("active must be true or false")),
    };
    Ok(ScheduleFilter { tag, active })
}

/// A query parameter given at most once.
fn once<'p>(params: &'p [(String, String)], name: &str) -> ApiResult<Option<&'p str>> {
    let mut values = params.iter().filter(|(n, _)| n == name).map(|(_, v)| v);
    let value = values.next();
    if values.next().is_some() {
        return Err(ApiError::bad_request(format!("{name} may be given once")));
    }
    Ok(value.map(String::as_str))
}

/// `POST /api/v1/schedules`: creates, or updates the schedule with the same
/// `deduplicationKey`.
#[utoipa::path(
    post,
    path = "/api/v1/schedules",
    tag = "schedules",
    operation_id = "createSchedule",
    security(("secretKey" = [])),
    request_body = ScheduleBody,
    responses(
        (status = 200, description = "The schedule", body = wire::Schedule),
        (status = 400, description = "The payload, metadata, machine or tags are invalid or too large", body = crate::openapi::schemas::ErrorBody),
        (status = 422, description = "The pattern, zone, window or task is invalid, a key is too long, or the schedule is declarative", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn create(
    State(state): State<AppState>,
    auth: Auth,
    Json(b): Json<ScheduleBody>,
) -> ApiResult<impl IntoResponse> {
    if b.deduplication_key.is_none() {
        return Err(ApiError::bad_request("deduplicationKey is required"));
    }
    let (s, _) = state
        .engine
        .upsert_schedule(&auth.env_id, schedules::check(b)?)
        .await?;
    Ok(axum::Json(view(&s, &auth)))
}

/// `GET /api/v1/schedules?page=&perPage=&tag=&active=` (default 10, at most
/// [`schedules::MAX_PER_PAGE`] a page).
#[utoipa::path(
    get,
    path = "/api/v1/schedules",
    tag = "schedules",
    operation_id = "listSchedules",
    security(("secretKey" = [])),
    params(
        ("page" = Option<u32>, Query, minimum = 1, maximum = 1000000, description = "The page, from 1"),
        ("perPage" = Option<u32>, Query, minimum = 1, maximum = 100, description = "Items a page (10 when absent)"),
        ("tag" = Option<String>, Query, description = "Only the schedules carrying this tag (a trigr addition)"),
        ("active" = Option<bool>, Query, description = "Only the active (`true`) or inactive (`false`) schedules (a trigr addition)"),
    ),
    responses(
        (status = 200, description = "A page of schedules, oldest first", body = ScheduleList),
        (status = 400, description = "A paging parameter, the tag or active is invalid", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
    Query(params): Query<Vec<(String, String)>>,
) -> ApiResult<impl IntoResponse> {
    let asked = OffsetPage::from_query(&params, 10, schedules::MAX_PER_PAGE)?;
    let filter = list_filter(&params)?;
    let (list, total) = state
        .engine
        .list_schedules(&auth.env_id, filter, asked.page, asked.per_page)
        .await?;
    Ok(axum::Json(ScheduleList {
        data: list.iter().map(|s| view(s, &auth)).collect(),
        pagination: asked.pagination(total),
    }))
}

/// `GET /api/v1/schedules/{id}`.
#[utoipa::path(
    get,
    path = "/api/v1/schedules/{id}",
    tag = "schedules",
    operation_id = "retrieveSchedule",
    security(("secretKey" = [])),
    params(
        ("id" = String, Path, description = "The schedule id (`sched_…`) or its deduplicationKey"),
    ),
    responses(
        (status = 200, description = "The schedule", body = wire::Schedule),
        (status = 404, description = "No such schedule", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn retrieve(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let s = state.engine.schedule(&auth.env_id, &id).await?;
    Ok(axum::Json(view(&s, &auth)))
}

/// `PUT /api/v1/schedules/{id}`.
#[utoipa::path(
    put,
    path = "/api/v1/schedules/{id}",
    tag = "schedules",
    operation_id = "updateSchedule",
    security(("secretKey" = [])),
    params(
        ("id" = String, Path, description = "The schedule id (`sched_…`) or its deduplicationKey"),
    ),
    request_body = ScheduleUpdate,
    responses(
        (status = 200, description = "The schedule, changed where the body says (members left out keep their value)", body = wire::Schedule),
        (status = 404, description = "No such schedule", body = crate::openapi::schemas::ErrorBody),
        (status = 400, description = "The payload, metadata, machine or tags are invalid or too large", body = crate::openapi::schemas::ErrorBody),
        (status = 422, description = "The pattern, zone, window or task is invalid, a key is too long or not the schedule's, or the schedule is declarative", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn update(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(b): Json<ScheduleUpdate>,
) -> ApiResult<impl IntoResponse> {
    let s = state
        .engine
        .update_schedule(&auth.env_id, &id, schedules::check_update(b)?)
        .await?;
    Ok(axum::Json(view(&s, &auth)))
}

/// `DELETE /api/v1/schedules/{id}`.
#[utoipa::path(
    delete,
    path = "/api/v1/schedules/{id}",
    tag = "schedules",
    operation_id = "deleteSchedule",
    security(("secretKey" = [])),
    params(
        ("id" = String, Path, description = "The schedule id (`sched_…`) or its deduplicationKey"),
    ),
    responses(
        (status = 200, description = "The schedule is deleted", body = Id),
        (status = 404, description = "No such schedule", body = crate::openapi::schemas::ErrorBody),
        (status = 422, description = "The schedule is declarative", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn delete(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let id = state.engine.delete_schedule(&auth.env_id, &id).await?;
    Ok(axum::Json(Id { id }))
}

/// `POST /api/v1/schedules/{id}/activate`.
#[utoipa::path(
    post,
    path = "/api/v1/schedules/{id}/activate",
    tag = "schedules",
    operation_id = "activateSchedule",
    security(("secretKey" = [])),
    params(
        ("id" = String, Path, description = "The schedule id (`sched_…`) or its deduplicationKey"),
    ),
    responses(
        (status = 200, description = "The schedule", body = wire::Schedule),
        (status = 404, description = "No such schedule", body = crate::openapi::schemas::ErrorBody),
        (status = 422, description = "The schedule is declarative", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn activate(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let s = state
        .engine
        .set_schedule_active(&auth.env_id, &id, true)
        .await?;
    Ok(axum::Json(view(&s, &auth)))
}

/// `POST /api/v1/schedules/{id}/deactivate`.
#[utoipa::path(
    post,
    path = "/api/v1/schedules/{id}/deactivate",
    tag = "schedules",
    operation_id = "deactivateSchedule",
    security(("secretKey" = [])),
    params(
        ("id" = String, Path, description = "The schedule id (`sched_…`) or its deduplicationKey"),
    ),
    responses(
        (status = 200, description = "The schedule", body = wire::Schedule),
        (status = 404, description = "No such schedule", body = crate::openapi::schemas::ErrorBody),
        (status = 422, description = "The schedule is declarative", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn deactivate(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let s = state
        .engine
        .set_schedule_active(&auth.env_id, &id, false)
        .await?;
    Ok(axum::Json(view(&s, &auth)))
}

#[derive(Deserialize)]
pub struct TimezoneParams {
    #[serde(rename = "excludeUtc")]
    exclude_utc: Option<bool>,
}

/// `GET /api/v1/timezones[?excludeUtc=true]`: public (the SDK sends no key).
#[utoipa::path(
    get,
    path = "/api/v1/timezones",
    tag = "schedules",
    operation_id = "listTimezones",
    params(
        ("excludeUtc" = Option<bool>, Query, description = "Leave UTC out"),
    ),
    responses(
        (status = 200, description = "The IANA zones schedules accept", body = Timezones),
    ),
)]
pub async fn timezones(Query(p): Query<TimezoneParams>) -> impl IntoResponse {
    let exclude = p.exclude_utc.unwrap_or(false);
    let zones: Vec<&str> = cron::timezones()
        .into_iter()
        .filter(|z| !exclude || *z != "UTC")
        .collect();
    axum::Json(Timezones {
        timezones: zones.into_iter().map(str::to_string).collect(),
    })
}
