//! The bodies of the official `trigger.dev` CLI's login calls, in its shapes: who a personal
//! access token is (`GET /api/v2/whoami`), the secret key of an environment it is handed
//! (`GET /api/v1/projects/{ref}/{env}`), and the platform notification it asks for at start
//! (`GET /api/v1/platform-notifications`), and `trigger.dev login`'s authorization code and
//! token exchange.

use serde::{Deserialize, Serialize};

/// Answer of `GET /api/v2/whoami`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({
        "userId": "pat_1a2b3c4d5e6f7g8h9i0jk",
        "email": "laptop@trigr.invalid",
        "dashboardUrl": "http://127.0.0.1:3030/dashboard",
        "project": {"name": "default", "url": "http://127.0.0.1:3030/dashboard", "orgTitle": "default"}
    }))
)]
#[serde(rename_all = "camelCase")]
pub struct WhoAmI {
    /// The token's id: a token stands for the operator who made it.
    pub user_id: String,
    /// The address given when the token was made, else `<name>@trigr.invalid`.
    pub email: String,
    pub dashboard_url: String,
    /// The project `?projectRef=` names, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<WhoAmIProject>,
}

/// A project as `whoami` names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct WhoAmIProject {
    pub name: String,
    pub url: String,
    /// The organization's slug.
    pub org_title: String,
}

/// Answer of `GET /api/v1/projects/{ref}/{env}`: the environment's secret key handed to the
/// token, and where to use it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({
        "apiKey": "tr_dev_0123456789abcdefABCDEFGH",
        "name": "default",
        "apiUrl": "http://127.0.0.1:3030",
        "projectId": "project_1a2b3c",
        "defaultRuntime": null
    }))
)]
#[serde(rename_all = "camelCase")]
pub struct ProjectEnv {
    /// A secret key of the environment: the same one on every call with the same token.
    pub api_key: String,
    /// The project's name.
    pub name: String,
    /// The server's address as the caller reached it.
    pub api_url: String,
    pub project_id: String,
    /// Always `null`: trigr builds nothing itself.
    #[serde(default)]
    pub default_runtime: Option<String>,
}

/// Answer of `GET /api/v1/platform-notifications`: trigr has none to show.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({"notification": null}))
)]
pub struct PlatformNotifications {
    /// Always `null`.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    #[serde(default)]
    pub notification: Option<serde_json::Value>,
}

/// Body of `POST /api/v1/authorization-code`: the start of `trigger.dev login`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({"codeChallenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "codeChallengeMethod": "S256"}))
)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizationCodeBody {
    /// Base64url of the SHA-256 of the CLI's verifier: 43 characters.
    #[cfg_attr(feature = "openapi", schema(pattern = "^[A-Za-z0-9_-]{43}$"))]
    pub code_challenge: String,
    /// `S256`.
    #[cfg_attr(feature = "openapi", schema(pattern = "^S256$"))]
    pub code_challenge_method: String,
    /// The CLI's local callback port, 1024 to 65535 (unused: approval is pasted).
    #[cfg_attr(feature = "openapi", schema(minimum = 1024, maximum = 65535))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_port: Option<u32>,
}

/// Answer of `POST /api/v1/authorization-code`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AuthorizationCode {
    /// A page saying how the operator approves the login.
    pub url: String,
    pub authorization_code: String,
    /// Always `paste`: the user pastes the approval code `trigr keys pat approve` printed.
    pub approval: String,
}

/// Body of `POST /api/v1/token`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TokenBody {
    pub authorization_code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_verifier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_code: Option<String>,
}

/// Answer of `POST /api/v1/token`: the token once approved, else `null`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenAnswer {
    #[serde(default)]
    pub token: Option<IssuedToken>,
}

/// A personal access token as the login hands it over, once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct IssuedToken {
    pub token: String,
    /// Its prefix and dots, to show.
    pub obfuscated_token: String,
}
