//! What every operation shares: the security schemes and the error answers any route can give,
//! added to each operation according to what it takes.

use serde_json::{json, Map, Value};
use utoipa::PartialSchema;

use super::schemas::ErrorBody;

/// Operations that answer without the store or a credential: no `500`/`503` from them.
const STATIC_OPERATIONS: &[&str] = &["health", "openApiDocument", "listTimezones"];

/// A common error answer: its component name, status and when it happens.
struct CommonError {
    name: &'static str,
    status: &'static str,
    description: &'static str,
}

const BAD_REQUEST: CommonError = CommonError {
    name: "BadRequest",
    status: "400",
    description: "A parameter, header or the body is malformed or out of range (the sentence \
                  names it), or the URL holds a NUL byte",
};
const UNAUTHORIZED: CommonError = CommonError {
    name: "Unauthorized",
    status: "401",
    description: "No credential, an unknown secret key, an invalid or expired public access \
                  token, or a public token where only a secret key is accepted",
};
const FORBIDDEN: CommonError = CommonError {
    name: "Forbidden",
    status: "403",
    description: "The public access token's scopes do not allow this",
};
const REQUEST_TIMEOUT: CommonError = CommonError {
    name: "RequestTimeout",
    status: "408",
    description: "The request body stalled",
};
const PAYLOAD_TOO_LARGE: CommonError = CommonError {
    name: "PayloadTooLarge",
    status: "413",
    description: "The body (or a payload in it) is over the server's size limit",
};
const URI_TOO_LONG: CommonError = CommonError {
    name: "UriTooLong",
    status: "414",
    description: "The request target is over 16 KiB",
};
const HEADERS_TOO_LARGE: CommonError = CommonError {
    name: "HeadersTooLarge",
    status: "431",
    description: "Too many header fields, or too many bytes of them",
};
const INTERNAL: CommonError = CommonError {
    name: "InternalError",
    status: "500",
    description: "The store failed unexpectedly (logged by the server; nothing internal is shown)",
};
const UNAVAILABLE: CommonError = CommonError {
    name: "Unavailable",
    status: "503",
    description: "The database is unreachable or busy; nothing was changed. Retry after the \
                  `Retry-After` seconds",
};

const ALL: [&CommonError; 9] = [
    &BAD_REQUEST,
    &UNAUTHORIZED,
    &FORBIDDEN,
    &REQUEST_TIMEOUT,
    &PAYLOAD_TOO_LARGE,
    &URI_TOO_LONG,
    &HEADERS_TOO_LARGE,
    &INTERNAL,
    &UNAVAILABLE,
];

/// Adds the security schemes, the error body and the common error answers to the components,
/// and to each operation the common errors that apply to it.
pub fn add(document: &mut Value) {
    let components = document
        .as_object_mut()
        .expect("the document is an object")
        .entry("components")
        .or_insert_with(|| json!({}));
    components["securitySchemes"] = security_schemes();
    components["schemas"]["ErrorBody"] =
        serde_json::to_value(ErrorBody::schema()).expect("a schema serializes");
    let responses: Map<String, Value> = ALL
        .iter()
        .map(|e| (e.name.to_string(), error_response(e)))
        .collect();
    components["responses"] = Value::Object(responses);
    if let Some(Value::Object(paths)) = document.get_mut("paths") {
        for item in paths.values_mut().filter_map(Value::as_object_mut) {
            for operation in item.values_mut().filter_map(Value::as_object_mut) {
                add_to_operation(operation);
            }
        }
    }
}

fn security_schemes() -> Value {
    json!({
        "secretKey": {
            "type": "http",
            "scheme": "bearer",
            "description": "The environment's secret key (`tr_dev_…`, `tr_stg_…`, `tr_prod_…`).",
        },
        "personalAccessToken": {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal access token (`tr_pat_…`, made with `trigr keys pat create`): \
                            the operator's, for the trigger.dev CLI's login calls only.",
        },
        "publicAccessToken": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "A public access token: an HS256 JWT signed with the environment's \
                            signing secret (or with a secret key the server has seen), scoped \
                            like `read:runs:<id>`. Each operation that takes one checks its scopes.",
        },
        "accessTokenQuery": {
            "type": "apiKey",
            "in": "query",
            "name": "access_token",
            "description": "A public access token in the URL, for clients that cannot set \
                            headers (a browser's EventSource). Never a secret key.",
        },
    })
}

fn error_response(e: &CommonError) -> Value {
    let mut headers = Map::new();
    if e.status.starts_with('4') {
        headers.insert(
            "x-should-retry".into(),
            json!({
                "description": "`false`: the same request would fail the same way",
                "schema": { "type": "string", "enum": ["false"] },
            }),
        );
    }
    if e.status == UNAVAILABLE.status {
        headers.insert(
            "retry-after".into(),
            json!({ "description": "Seconds to wait", "schema": { "type": "string" } }),
        );
    }
    json!({
        "description": e.description,
        "headers": headers,
        "content": {
            "application/json": { "schema": { "$ref": "#/components/schemas/ErrorBody" } },
        },
    })
}

/// The common errors that apply to `operation`, each unless the operation documents that
/// status itself.
fn add_to_operation(operation: &mut Map<String, Value>) {
    let schemes = security_schemes_of(operation);
    let id = operation
        .get("operationId")
        .and_then(Value::as_str)
        .unwrap_or("");
    let uses_store = !STATIC_OPERATIONS.contains(&id);
    let takes_body = operation.contains_key("requestBody");
    let applies = |e: &CommonError| match e.status {
        "401" => !schemes.is_empty(),
        "403" => schemes
            .iter()
            .any(|s| s != "secretKey" && s != "personalAccessToken"),
        "408" | "413" => takes_body,
        "500" | "503" => uses_store,
        _ => true,
    };
    let responses = operation
        .entry("responses")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .expect("responses are an object");
    for e in ALL.into_iter().filter(|e| applies(e)) {
        responses
            .entry(e.status)
            .or_insert_with(|| json!({ "$ref": format!("#/components/responses/{}", e.name) }));
    }
}

/// The names of the security schemes an operation accepts.
fn security_schemes_of(operation: &Map<String, Value>) -> Vec<String> {
    operation
        .get("security")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .flat_map(|requirement| requirement.keys().cloned())
        .collect()
}
