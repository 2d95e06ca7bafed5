//! Schedules API (reference §4.1): `{id}` is a schedule id (`sched_…`) or its
//! deduplication key.

use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{json, Value};
use trigr_engine::schedules::{self, cron, ScheduleInput};
use trigr_store::Schedule;
use trigr_types::format_time;

use super::offset_page::{page_json, OffsetParams};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, Json};
use crate::AppState;

/// Body of create and update.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Body {
    task: String,
    cron: String,
    timezone: Option<String>,
    external_id: Option<String>,
    deduplication_key: Option<String>,
    window: Option<Value>,
}

impl Body {
    fn input(self) -> ApiResult<ScheduleInput> {
        let window = match self.window {
            None | Some(Value::Null) => None,
            Some(Value::String(w)) => Some(w),
            Some(other) => {
                let kind = match other {
                    Value::Bool(_) => "a boolean",
                    Value::Number(_) => "a number",
                    Value::Array(_) => "an array",
                    _ => "an object",
                };
                return Err(ApiError::new(
                    axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                    format!(
                        "invalid window: window must be a string such as \"30m\", \"2h\" or \"30%\", not {kind}"
                    ),
                ));
            }
        };
        Ok(ScheduleInput {
            task: self.task,
            cron: self.cron,
            timezone: self.timezone,
            external_id: self.external_id,
            dedup_key: self.deduplication_key,
            window,
        })
    }
}

/// The schedule object of the reference. `nextRun` is the next nominal tick,
/// `nextRunEffectiveAt` when it fires (after the window's offset); `window` is omitted when
/// the schedule has none.
fn view(s: &Schedule, auth: &Auth) -> Value {
    let next = s.next_run_at.filter(|_| s.active);
    let mut v = json!({
        "id": s.id,
        "type": s.kind.as_str(),
        "task": s.task_id,
        "active": s.active,
        "deduplicationKey": s.dedup_key,
        "externalId": s.external_id,
        "generator": {
            "type": "CRON",
            "expression": s.cron,
            "description": schedules::describe(s),
        },
        "timezone": s.timezone,
        "nextRun": next.and(schedules::next_nominal(s)).map(format_time),
        "nextRunEffectiveAt": next.map(format_time),
        "environments": [{ "id": s.env_id, "type": auth.kind.as_str(), "userName": null }],
    });
    if let Some(w) = &s.window {
        v["window"] = json!(w);
    }
    v
}

/// `POST /api/v1/schedules`: creates, or updates the schedule with the same
/// `deduplicationKey`.
pub async fn create(
    State(state): State<AppState>,
    auth: Auth,
    Json(b): Json<Body>,
) -> ApiResult<impl IntoResponse> {
    if b.deduplication_key.is_none() {
        return Err(ApiError::bad_request("deduplicationKey is required"));
    }
    let (s, _) = state
        .engine
        .upsert_schedule(&auth.env_id, b.input()?)
        .await?;
    Ok(axum::Json(view(&s, &auth)))
}

/// `GET /api/v1/schedules?page=&perPage=`.
pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
    Query(p): Query<OffsetParams>,
) -> ApiResult<impl IntoResponse> {
    let (page, per_page) = p.resolve(10, schedules::MAX_PER_PAGE);
    let (list, total) = state
        .engine
        .list_schedules(&auth.env_id, page, per_page)
        .await?;
    let data = list.iter().map(|s| view(s, &auth)).collect();
    Ok(axum::Json(page_json(data, page, per_page, total)))
}

/// `GET /api/v1/schedules/{id}`.
pub async fn retrieve(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let s = state.engine.schedule(&auth.env_id, &id).await?;
    Ok(axum::Json(view(&s, &auth)))
}

/// `PUT /api/v1/schedules/{id}`.
pub async fn update(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(b): Json<Body>,
) -> ApiResult<impl IntoResponse> {
    let s = state
        .engine
        .update_schedule(&auth.env_id, &id, b.input()?)
        .await?;
    Ok(axum::Json(view(&s, &auth)))
}

/// `DELETE /api/v1/schedules/{id}`.
pub async fn delete(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let id = state.engine.delete_schedule(&auth.env_id, &id).await?;
    Ok(axum::Json(json!({ "id": id })))
}

/// `POST /api/v1/schedules/{id}/activate`.
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
pub async fn timezones(Query(p): Query<TimezoneParams>) -> impl IntoResponse {
    let exclude = p.exclude_utc.unwrap_or(false);
    let zones: Vec<&str> = cron::timezones()
        .into_iter()
        .filter(|z| !exclude || *z != "UTC")
        .collect();
    axum::Json(json!({ "timezones": zones }))
}
