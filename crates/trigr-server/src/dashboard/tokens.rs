//! `GET /dashboard/env/{env_id}/tokens`: the newest wait tokens with their status, and a
//! form to complete a waiting one (the engine's `complete_token`).

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::html;
use trigr_store::{WaitpointFilter, WaitpointStatus};

use super::auth::{same_site, Viewer};
use super::layout::{self, csrf_field, opt_time, page, time, PageError, Shell};
use crate::AppState;

/// `GET /dashboard/env/{env_id}/tokens`.
pub async fn tokens(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(env_id): Path<String>,
) -> Result<Response, PageError> {
    let env = viewer.env(&env_id)?;
    let list = state
        .engine
        .list_tokens(&env.id, WaitpointFilter::default(), 50, None, None)
        .await?;
    let content = html! {
        h1 { "Wait tokens" }
        div.panel {
            @if list.is_empty() { (layout::empty("No wait tokens.")) }
            @else {
                table {
                    thead { tr { th { "Token" } th { "Status" } th { "Created" } th { "Times out" } th { "Complete" } } }
                    tbody { @for (t, _) in list.iter().take(50) { tr {
                        td.mono { (t.id) }
                        td { (t.status.as_str()) }
                        td { (time(t.created_at)) }
                        td { (opt_time(t.due_at)) }
                        td { @if t.status == WaitpointStatus::Waiting {
                            form method="post" action=(format!("/dashboard/env/{}/tokens/{}/complete", env.id, t.id)) {
                                (csrf_field(&viewer))
                                input name="data" value="{}" aria-label="Data (JSON)";
                                button.secondary type="submit" { "Complete" }
                            }
                        } }
                    } } }
                }
            }
        }
    };
    let shell = Shell {
        viewer: &viewer,
        env,
        tab: "tokens",
        title: "Tokens",
        live: None,
    };
    Ok(page(shell, content).into_response())
}

/// The completion form.
#[derive(serde::Deserialize)]
pub struct CompleteForm {
    csrf: Option<String>,
    data: Option<String>,
}

/// `POST /dashboard/env/{env_id}/tokens/{token_id}/complete`.
pub async fn complete(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((env_id, token_id)): Path<(String, String)>,
    headers: HeaderMap,
    Form(form): Form<CompleteForm>,
) -> Result<Response, PageError> {
    same_site(&headers)?;
    viewer.check_csrf(form.csrf.as_deref())?;
    let env = viewer.env(&env_id)?;
    let text = form
        .data
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("null");
    let data: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| PageError::bad_request(format!("The data is not JSON: {e}")))?;
    state
        .engine
        .complete_token(&env.id, &token_id, data, None)
        .await?;
    Ok(Redirect::to(&format!("/dashboard/env/{}/tokens", env.id)).into_response())
}
