//! `/api/v1/ai/tools…`: AI tool definitions made from tasks (`trigr_engine::ai`) — create,
//! list (offset pages), retrieve, update and delete by tool name — and their export in the
//! shapes the LLM APIs take (`GET /api/v1/ai/tools/export?format=openai|anthropic`).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use trigr_engine::ai::{self, Display, ToolDefinition, ToolEdit, ToolSpec};
use trigr_types::wire::ai::{
    AiTool, AiToolDeleted, AiToolDisplay, AiToolExport, AiToolList, AnthropicTool,
    CreateAiToolBody, OpenAiFunction, OpenAiTool, UpdateAiToolBody,
};

use super::offset_page::OffsetPage;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, Json};
use crate::AppState;

/// Most definitions on one page.
const MAX_PER_PAGE: usize = 100;

fn display(d: Option<AiToolDisplay>) -> Display {
    let d = d.unwrap_or_default();
    Display {
        title: d.title,
        read_only: d.read_only,
        destructive: d.destructive,
    }
}

/// A definition as the API shows it.
fn view(t: ToolDefinition) -> AiTool {
    AiTool {
        id: t.id,
        name: t.name,
        description: t.description,
        task_id: t.task_id,
        parameters: t.parameters,
        display: AiToolDisplay {
            title: t.display.title,
            read_only: t.display.read_only,
            destructive: t.display.destructive,
        },
        created_at: t.created_at.into(),
        updated_at: t.updated_at.into(),
    }
}

/// `GET /api/v1/ai/tools?page=&perPage=` (default 25, at most 100 a page), by name.
#[utoipa::path(
    get,
    path = "/api/v1/ai/tools",
    tag = "ai",
    operation_id = "listAiTools",
    security(("secretKey" = [])),
    params(
        ("page" = Option<u32>, Query, minimum = 1, maximum = 1000000, description = "The page, from 1"),
        ("perPage" = Option<u32>, Query, minimum = 1, maximum = 100, description = "Items a page (25 when absent)"),
    ),
    responses(
        (status = 200, description = "A page of tool definitions", body = AiToolList),
        (status = 400, description = "A paging parameter is invalid", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
    Query(params): Query<Vec<(String, String)>>,
) -> ApiResult<impl IntoResponse> {
    let asked = OffsetPage::from_query(&params, 25, MAX_PER_PAGE)?;
    let (tools, total) = state
        .engine
        .list_ai_tools(&auth.env_id, asked.page, asked.per_page)
        .await?;
    Ok(axum::Json(AiToolList {
        data: tools.into_iter().map(view).collect(),
        pagination: asked.pagination(total),
    }))
}

/// `POST /api/v1/ai/tools`: a new definition.
#[utoipa::path(
    post,
    path = "/api/v1/ai/tools",
    tag = "ai",
    operation_id = "createAiTool",
    security(("secretKey" = [])),
    request_body = CreateAiToolBody,
    responses(
        (status = 201, description = "The new definition", body = AiTool),
        (status = 400, description = "A field is invalid", body = crate::openapi::schemas::ErrorBody),
        (status = 409, description = "The name is taken, or the environment holds 100 definitions", body = crate::openapi::schemas::ErrorBody),
        (status = 413, description = "The parameters schema is over 64 KiB", body = crate::openapi::schemas::ErrorBody),
        (status = 422, description = "No deployment declares the task", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn create(
    State(state): State<AppState>,
    auth: Auth,
    Json(b): Json<CreateAiToolBody>,
) -> ApiResult<impl IntoResponse> {
    let spec = ToolSpec {
        name: b.name,
        description: b.description,
        task_id: b.task_id,
        parameters: b.parameters,
        display: display(b.display),
    };
    let t = state.engine.create_ai_tool(&auth.env_id, spec).await?;
    Ok((StatusCode::CREATED, axum::Json(view(t))))
}

/// `GET /api/v1/ai/tools/{name}`.
#[utoipa::path(
    get,
    path = "/api/v1/ai/tools/{name}",
    tag = "ai",
    operation_id = "retrieveAiTool",
    security(("secretKey" = [])),
    params(("name" = String, Path, description = "The tool name")),
    responses(
        (status = 200, description = "The definition", body = AiTool),
        (status = 400, description = "The name is invalid", body = crate::openapi::schemas::ErrorBody),
        (status = 404, description = "No such tool", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn retrieve(
    State(state): State<AppState>,
    auth: Auth,
    Path(name): Path<String>,
) -> ApiResult<impl IntoResponse> {
    ai::check_name(&name)?;
    Ok(axum::Json(view(
        state.engine.ai_tool(&auth.env_id, &name).await?,
    )))
}

/// `PATCH /api/v1/ai/tools/{name}`: changes the given fields.
#[utoipa::path(
    patch,
    path = "/api/v1/ai/tools/{name}",
    tag = "ai",
    operation_id = "updateAiTool",
    security(("secretKey" = [])),
    params(("name" = String, Path, description = "The tool name")),
    request_body = UpdateAiToolBody,
    responses(
        (status = 200, description = "The definition", body = AiTool),
        (status = 400, description = "A field is invalid", body = crate::openapi::schemas::ErrorBody),
        (status = 404, description = "No such tool", body = crate::openapi::schemas::ErrorBody),
        (status = 413, description = "The parameters schema is over 64 KiB", body = crate::openapi::schemas::ErrorBody),
        (status = 422, description = "No deployment declares the task", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn update(
    State(state): State<AppState>,
    auth: Auth,
    Path(name): Path<String>,
    Json(b): Json<UpdateAiToolBody>,
) -> ApiResult<impl IntoResponse> {
    ai::check_name(&name)?;
    let edit = ToolEdit {
        description: b.description,
        task_id: b.task_id,
        parameters: b.parameters,
        display: b.display.map(|d| display(Some(d))),
    };
    let t = state
        .engine
        .update_ai_tool(&auth.env_id, &name, edit)
        .await?;
    Ok(axum::Json(view(t)))
}

/// `DELETE /api/v1/ai/tools/{name}`.
#[utoipa::path(
    delete,
    path = "/api/v1/ai/tools/{name}",
    tag = "ai",
    operation_id = "deleteAiTool",
    security(("secretKey" = [])),
    params(("name" = String, Path, description = "The tool name")),
    responses(
        (status = 200, description = "Deleted", body = AiToolDeleted),
        (status = 400, description = "The name is invalid", body = crate::openapi::schemas::ErrorBody),
        (status = 404, description = "No such tool", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn delete(
    State(state): State<AppState>,
    auth: Auth,
    Path(name): Path<String>,
) -> ApiResult<impl IntoResponse> {
    ai::check_name(&name)?;
    state.engine.delete_ai_tool(&auth.env_id, &name).await?;
    Ok(axum::Json(AiToolDeleted {
        name,
        deleted: true,
    }))
}

/// `GET /api/v1/ai/tools/export?format=openai|anthropic`: every definition, by name, in the
/// shape the LLM API takes as its `tools`.
#[utoipa::path(
    get,
    path = "/api/v1/ai/tools/export",
    tag = "ai",
    operation_id = "exportAiTools",
    security(("secretKey" = [])),
    params(
        ("format" = String, Query, description = "`openai` (function definitions) or `anthropic`"),
    ),
    responses(
        (status = 200, description = "The tools in the format asked for", body = AiToolExport),
        (status = 400, description = "The format is missing or unknown", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn export(
    State(state): State<AppState>,
    auth: Auth,
    Query(params): Query<Vec<(String, String)>>,
) -> ApiResult<impl IntoResponse> {
    let mut formats = params.iter().filter(|(n, _)| n == "format").map(|(_, v)| v);
    let (format, again) = (formats.next(), formats.next());
    let anthropic = match (format.map(String::as_str), again) {
        (Some("openai"), None) => false,
        (Some("anthropic"), None) => true,
        _ => {
            return Err(ApiError::bad_request(
                "format must be given once: openai or anthropic",
            ))
        }
    };
    let tools = state.engine.all_ai_tools(&auth.env_id).await?;
    Ok(axum::Json(match anthropic {
        false => AiToolExport::OpenAi(tools.into_iter().map(openai).collect()),
        true => AiToolExport::Anthropic(tools.into_iter().map(anthropic_tool).collect()),
    }))
}

fn openai(t: ToolDefinition) -> OpenAiTool {
    OpenAiTool {
        kind: "function".into(),
        function: OpenAiFunction {
            name: t.name,
            description: t.description,
            parameters: t.parameters,
        },
    }
}

fn anthropic_tool(t: ToolDefinition) -> AnthropicTool {
    AnthropicTool {
        name: t.name,
        description: t.description,
        input_schema: t.parameters,
    }
}
