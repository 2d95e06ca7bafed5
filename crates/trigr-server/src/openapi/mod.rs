//! The OpenAPI 3.1 document of the whole HTTP API, served at `GET /api/openapi.json`.
//!
//! Each handler carries its `#[utoipa::path]` entry (path, parameters, security, answers) and
//! `routes/mod.rs` registers every route through `utoipa_axum::routes!`, so a route cannot be
//! served without its entry. Request bodies and answers are the types of `trigr_types::wire`
//! the handlers read and write (their `ToSchema` derives); the answers that are not wire
//! types (errors, the realtime feeds, a few others) are described by the types of
//! [`schemas`]. What every route shares is added here, once, when the server starts
//! ([`publish`]):
//!
//! - the security schemes (secret key, public access token, `?access_token=`);
//! - the error answers any route can give (`400`, `401`, `403`, `408`, `413`, `414`, `431`,
//!   `500`, `503`) as the common error body, according to what the operation takes;
//! - the links between operations ([`links`]), which stateful clients follow;
//! - OpenAPI path templates for the router's catch-all segments (`{*path}` → `{path}`).
//!
//! The finished document is serialized once and served as the same bytes afterwards; no
//! other route does any work for it.

mod common;
mod links;
pub mod schemas;

use std::sync::OnceLock;

use axum::body::Bytes;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::Value;

/// The finished document, as served.
static DOCUMENT: OnceLock<Bytes> = OnceLock::new();

/// The document's front matter: what the API is, its tags and security schemes.
pub fn base() -> utoipa::openapi::OpenApi {
    utoipa::openapi::OpenApiBuilder::new()
        .info(
            utoipa::openapi::InfoBuilder::new()
                .title("trigr")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "The HTTP API of a trigr server: the management REST API (Trigger.dev v4 paths \
                     and shapes), realtime subscriptions, output and input streams, and the worker \
                     protocol. Errors are JSON: `{\"error\": \"<sentence>\"}`, sometimes with more \
                     members (`code`, `status`, `runId`, …).",
                ))
                .build(),
        )
        .build()
}

/// Finishes the document the routes produced (see the module doc) and keeps it for
/// [`serve`]. The first call wins: every router of this build has the same routes.
pub fn publish(api: utoipa::openapi::OpenApi) {
    DOCUMENT.get_or_init(|| {
        let document = finish(api);
        Bytes::from(serde_json::to_vec(&document).expect("a JSON value always serializes"))
    });
}

/// The finished document as JSON.
pub fn finish(api: utoipa::openapi::OpenApi) -> Value {
    let mut document = serde_json::to_value(api).expect("the document always serializes");
    rename_catch_all_segments(&mut document);
    parameters_not_nullable(&mut document);
    common::add(&mut document);
    links::add(&mut document);
    document
}

/// `GET /api/openapi.json`: this document, without auth.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "meta",
    operation_id = "openApiDocument",
    responses(
        (status = 200, description = "The OpenAPI 3.1 document of this server", content_type = "application/json", body = Object),
    ),
)]
pub async fn serve() -> impl IntoResponse {
    let bytes = DOCUMENT.get().cloned().unwrap_or_default();
    ([(header::CONTENT_TYPE, "application/json")], bytes)
}

/// `/api/v2/packets/{*path}` is `/api/v2/packets/{path}` in OpenAPI (whose path parameters
/// are one segment each; a packet path arrives with its slashes encoded).
fn rename_catch_all_segments(document: &mut Value) {
    let Some(Value::Object(paths)) = document.get_mut("paths") else {
        return;
    };
    let renamed = std::mem::take(paths)
        .into_iter()
        .map(|(path, item)| (path.replace("{*", "{"), item))
        .collect();
    *paths = renamed;
}

/// A parameter the caller leaves out is absent (`required: false`), never `null`: the
/// `null` that optional Rust types add to a parameter's type is dropped.
fn parameters_not_nullable(document: &mut Value) {
    let Some(Value::Object(paths)) = document.get_mut("paths") else {
        return;
    };
    let parameters = paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
        .filter_map(|op| op.get_mut("parameters").and_then(Value::as_array_mut))
        .flatten();
    for parameter in parameters {
        if let Some(Value::Array(types)) = parameter.pointer_mut("/schema/type") {
            types.retain(|t| t != "null");
            if types.len() == 1 {
                let only = types.remove(0);
                parameter["schema"]["type"] = only;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document() -> Value {
        finish(crate::routes::api().into_openapi())
    }

    fn operations(document: &Value) -> Vec<(String, String, Value)> {
        let mut out = Vec::new();
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                out.push((path.clone(), method.clone(), op.clone()));
            }
        }
        out
    }

    #[test]
    fn every_operation_has_a_unique_id_a_success_and_json_errors() {
        let document = document();
        let ops = operations(&document);
        assert!(ops.len() > 50, "only {} operations", ops.len());
        let mut ids: Vec<&str> = ops
            .iter()
            .map(|(p, m, op)| {
                op["operationId"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{m} {p} has no operationId"))
            })
            .collect();
        ids.sort_unstable();
        let count = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), count, "operation ids repeat");
        for (path, method, op) in &ops {
            let responses = op["responses"].as_object().unwrap();
            // A WebSocket upgrade succeeds with 101 Switching Protocols.
            assert!(
                responses.keys().any(|s| s.starts_with('2') || s == "101"),
                "{method} {path} documents no success"
            );
            assert!(
                responses.contains_key("400"),
                "{method} {path} lacks the common errors"
            );
        }
    }

    #[test]
    fn paths_are_openapi_templates_and_links_name_real_operations() {
        let document = document();
        let ids: Vec<String> = operations(&document)
            .iter()
            .map(|(_, _, op)| op["operationId"].as_str().unwrap().to_string())
            .collect();
        for (path, _, op) in operations(&document) {
            assert!(!path.contains('*'), "{path} is not a template");
            for response in op["responses"].as_object().unwrap().values() {
                let Some(links) = response.get("links").and_then(Value::as_object) else {
                    continue;
                };
                for link in links.values() {
                    let target = link["operationId"].as_str().unwrap();
                    assert!(ids.iter().any(|id| id == target), "no operation {target}");
                }
            }
        }
    }

    #[test]
    fn the_document_is_openapi_3_1_and_serves_its_own_path() {
        let document = document();
        assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));
        assert!(document["paths"]["/api/openapi.json"]["get"].is_object());
        assert!(document["paths"]["/api/v2/packets/{path}"]["put"].is_object());
        let schemes = document["components"]["securitySchemes"]
            .as_object()
            .unwrap();
        for scheme in ["secretKey", "publicAccessToken", "accessTokenQuery"] {
            assert!(schemes.contains_key(scheme), "no {scheme}");
        }
    }
}
