//! `packets`: payloads the official SDK uploads before a trigger (>= 128 KiB). A trigger that
//! names a stored packet (`payloadType: application/store`) gets the packet's content inline.

use serde_json::Value;
use trigr_store::Packet;
use trigr_types::packet;

use crate::{Engine, Error, Result};

impl Engine {
    pub async fn put_packet(
        &self,
        env_id: &str,
        path: &str,
        content_type: &str,
        data: Vec<u8>,
    ) -> Result<()> {
        if data.len() > self.config.max_payload_bytes {
            return Err(Error::TooLarge(format!(
                "The packet is {} bytes, over the limit of {} bytes",
                data.len(),
                self.config.max_payload_bytes
            )));
        }
        let p = Packet {
            env_id: env_id.to_string(),
            path: path.to_string(),
            content_type: content_type.to_string(),
            data,
            created_at: self.now(),
        };
        self.write(move |tx| Ok(tx.put_packet(&p)?)).await
    }

    pub async fn packet(&self, env_id: &str, path: &str) -> Result<Packet> {
        let (env_id, path) = (env_id.to_string(), path.to_string());
        self.read(move |tx| {
            tx.packet(&env_id, &path)?
                .ok_or_else(|| Error::not_found(format!("No packet is stored at '{path}'")))
        })
        .await
    }

    /// Replaces a payload that names a stored packet (`payload_type` is `application/store`)
    /// by the packet's content, and `payload_type` by the packet's type.
    pub async fn resolve_payload(
        &self,
        env_id: &str,
        payload: Option<Value>,
        payload_type: &mut Option<String>,
    ) -> Result<Option<Value>> {
        if payload_type.as_deref() != Some(packet::STORE) {
            return Ok(payload);
        }
        let path = match &payload {
            Some(Value::String(p)) if !p.is_empty() => p.clone(),
            _ => {
                return Err(Error::invalid(
                    "An application/store payload must name the stored packet",
                ))
            }
        };
        let p = self.packet(env_id, &path).await.map_err(|e| match e {
            Error::NotFound(m) => Error::unprocessable(m),
            other => other,
        })?;
        let text = String::from_utf8(p.data).map_err(|_| {
            Error::unprocessable(format!("The packet at '{path}' is not UTF-8 text"))
        })?;
        *payload_type = Some(p.content_type);
        Ok(Some(Value::String(text)))
    }
}
