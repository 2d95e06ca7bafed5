use rusqlite::{params, OptionalExtension};

use super::SqliteTx;
use crate::model::Packet;
use crate::tx::PacketTx;
use crate::Result;

impl PacketTx for SqliteTx<'_> {
    fn put_packet(&mut self, p: &Packet) -> Result<()> {
        self.conn.execute(
            "INSERT INTO packets (env_id, path, content_type, data, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (env_id, path) DO UPDATE SET content_type = ?3, data = ?4, created_at = ?5",
            params![p.env_id, p.path, p.content_type, p.data, p.created_at],
        )?;
        Ok(())
    }

    fn packet(&mut self, env_id: &str, path: &str) -> Result<Option<Packet>> {
        let mut st = self.conn.prepare_cached(
            "SELECT env_id, path, content_type, data, created_at FROM packets WHERE env_id = ?1 AND path = ?2",
        )?;
        Ok(st
            .query_row(params![env_id, path], |r| {
                Ok(Packet {
                    env_id: r.get(0)?,
                    path: r.get(1)?,
                    content_type: r.get(2)?,
                    data: r.get(3)?,
                    created_at: r.get(4)?,
                })
            })
            .optional()?)
    }
}
