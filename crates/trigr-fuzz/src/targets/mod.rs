//! The targets: one per parser of client input, in the order they run.

pub mod cron;
pub mod duration;
pub mod jwt;
pub mod manifest;
pub mod metadata;
pub mod ndjson;
pub mod packet;
pub mod requests;
pub mod server;
pub mod tokens;
pub mod trigger;
pub mod version;
pub mod window;

use std::fmt::Debug;

use trigr_server::error::ApiError;

use crate::report::Report;
use crate::runner::{ensure, Settings, Verdict};

/// A refusal of `input` must be a 4xx (the client's mistake), never a 5xx.
pub fn client_error(e: &ApiError, input: impl Debug) -> Verdict {
    ensure(e.status.is_client_error(), "not a client error", || {
        format!("{input:?} answered {}: {}", e.status, e.message)
    })
}

/// [`client_error`] for an engine error, as the server answers it.
pub fn engine_client_error(e: trigr_engine::Error, input: impl Debug) -> Verdict {
    client_error(&ApiError::from(e), input)
}

/// A parser and the function that fuzzes it.
#[derive(Clone, Copy)]
pub struct Target {
    pub name: &'static str,
    pub run: fn(&'static str, &Settings) -> Report,
}

/// Every target.
pub fn all() -> Vec<Target> {
    let t = |name, run| Target { name, run };
    vec![
        t("types::duration::parse", duration::parse),
        t("types::duration::parse_delay", duration::parse_delay),
        t("types::duration::parse_date", duration::parse_date),
        t(
            "types::duration::idempotency_ttl",
            duration::idempotency_ttl,
        ),
        t("types::version::compare", version::compare),
        t("types::version_guard::parse", version::guard),
        t("types::packet::to_value", packet::to_value),
        t("engine::deploy::validate_manifest", manifest::validate),
        t("engine::schedules::cron::parse", cron::parse),
        t("engine::schedules::window::parse", window::parse),
        t("engine::trigger::prepare", trigger::prepare_options),
        t("engine::metadata::apply", metadata::apply_operations),
        t("server::jwt::verify", jwt::verify),
        t("server::jwt::verify_blob", jwt::verify_blob),
        t("server::runs_list::query", requests::run_list),
        t("server::offset_page::from_query", requests::offset_page),
        t("server::events::last_event_id", requests::event_stream),
        t(
            "server::output_streams::read_options",
            requests::stream_read,
        ),
        t("server::extract::url_query", requests::url_query),
        t("server::extract::parse_json", requests::json_body),
        t("server::batches::ndjson_lines", ndjson::items),
    ]
}
