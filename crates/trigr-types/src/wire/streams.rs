//! The answers of packets (reference §2.3), output streams (§5.6) and input streams (§5.7).

use serde::{Deserialize, Serialize};

/// Answer of `PUT /api/v1/packets/{path}`: where to upload a packet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PresignedUpload {
    pub presigned_url: String,
    /// The path a trigger names the packet by (`application/store` payloads).
    pub storage_path: String,
}

/// Answer of `GET /api/v1/packets/{path}`: where to download a packet from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PresignedDownload {
    pub presigned_url: String,
}

/// Answer of opening an output stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StreamOpened {
    /// `v1`.
    pub version: String,
}

/// Answer of writing chunks to an output stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ChunksWritten {
    pub ok: bool,
    /// Chunks not stored before.
    pub accepted: u64,
    /// `-1` when the stream has none.
    pub last_chunk_index: i64,
}

/// Answer of appending one chunk to an output stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChunkAppended {
    pub ok: bool,
    /// The chunk's index; `null` when nothing was stored.
    pub index: Option<i64>,
}

/// Answer of `POST /realtime/v1/streams/{runId}/input/{streamId}`: the message is stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct InputSent {
    pub ok: bool,
    /// The message's number on its stream.
    pub seq: i64,
    /// The version of the run, `null` while it has none.
    pub run_version: Option<String>,
}
