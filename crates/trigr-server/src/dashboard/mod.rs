//! The dashboard `trigr server` serves in the browser: server-rendered pages (maud) with a
//! small script for live updates over server-sent events, its stylesheet and script embedded
//! in the binary. `docs/dashboard.md` describes it.
//!
//! * [`auth`]: sign-in (secret key or one-time link), the session cookie, CSRF and
//!   cross-site checks; an environment the session does not grant answers `404`.
//! * [`layout`]: the page shell and the pieces every page uses.
//! * one file per page: [`runs`], [`run`], [`overview`], [`deployments`] (tasks too),
//!   [`queues`], [`mollifier`] (burst smoothing), [`schedules`], [`batches`], [`tokens`]; [`live`] streams their live parts.
//!
//! Every read goes through the engine, every action calls the engine command the API's route
//! calls, and nothing is kept in the server's memory: any server of a cluster serves any page.
//! The routes are not part of the API and not in its OpenAPI document.

pub mod auth;
pub mod batches;
pub mod deployments;
pub mod layout;
pub mod live;
pub mod mollifier;
pub mod overview;
pub mod plan;
pub mod queues;
pub mod run;
pub mod runs;
pub mod schedules;
pub mod tokens;

use axum::response::Redirect;
use axum::routing::{get, post};
use axum::Router;

use crate::AppState;

/// The dashboard's routes, and `GET /` leading to it.
pub fn router(state: AppState) -> Router {
    let env = "/dashboard/env/{env_id}";
    Router::new()
        .route("/", get(|| async { Redirect::to("/dashboard") }))
        .route("/dashboard", get(auth::home))
        .route("/dashboard/login", get(auth::login_form).post(auth::login))
        .route("/dashboard/logout", post(auth::logout))
        .route("/dashboard/link/{token}", get(auth::link))
        .route("/dashboard/assets/style.css", get(layout::style))
        .route("/dashboard/assets/live.js", get(layout::script))
        .route(&format!("{env}/runs"), get(runs::runs))
        .route(&format!("{env}/runs/live"), get(live::runs))
        .route(&format!("{env}/runs/{{run_id}}"), get(run::run))
        .route(&format!("{env}/runs/{{run_id}}/live"), get(live::run))
        .route(&format!("{env}/runs/{{run_id}}/{{action}}"), post(run::act))
        .route(
            &format!("{env}/runs/{{run_id}}/tokens/{{token_id}}/complete"),
            post(run::complete_token),
        )
        .route(&format!("{env}/overview"), get(overview::overview))
        .route(&format!("{env}/overview/live"), get(live::overview))
        .route(&format!("{env}/tasks"), get(deployments::tasks))
        .route(&format!("{env}/deployments"), get(deployments::deployments))
        .route(
            &format!("{env}/deployments/rollback"),
            post(deployments::rollback),
        )
        .route(
            &format!("{env}/deployments/{{version}}/promote"),
            post(deployments::promote),
        )
        .route(&format!("{env}/queues"), get(queues::queues))
        .route(&format!("{env}/queues/live"), get(live::queues))
        .route(
            &format!("{env}/queues/{{queue_id}}/{{action}}"),
            post(queues::act),
        )
        .route(&format!("{env}/mollifier"), get(mollifier::mollifier))
        .route(&format!("{env}/mollifier/live"), get(live::mollifier))
        .route(&format!("{env}/mollifier/{{action}}"), post(mollifier::act))
        .route(&format!("{env}/schedules"), get(schedules::schedules))
        .route(
            &format!("{env}/schedules/{{id}}/{{action}}"),
            post(schedules::act),
        )
        .route(&format!("{env}/batches"), get(batches::batches))
        .route(&format!("{env}/tokens"), get(tokens::tokens))
        .route(
            &format!("{env}/tokens/{{token_id}}/complete"),
            post(tokens::complete),
        )
        .with_state(state)
}
