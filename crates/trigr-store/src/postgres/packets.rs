//! Uploaded payload packets (BYTEA).

use super::PgTx;
use crate::model::Packet;
use crate::tx::PacketTx;
use crate::Result;

impl PacketTx for PgTx<'_> {
    fn put_packet(&mut self, p: &Packet) -> Result<()> {
        self.exec(
            "INSERT INTO packets (env_id, path, content_type, data, created_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (env_id, path) DO UPDATE SET content_type = EXCLUDED.content_type, \
             data = EXCLUDED.data, created_at = EXCLUDED.created_at",
            &[&p.env_id, &p.path, &p.content_type, &p.data, &p.created_at],
        )?;
        Ok(())
    }

    fn packet(&mut self, env_id: &str, path: &str) -> Result<Option<Packet>> {
        if path.contains('\0') {
            // Text cannot hold a NUL, so no stored path has one (a run's payload may name one).
            return Ok(None);
        }
        let row = self.opt_row(
            "SELECT env_id, path, content_type, data, created_at FROM packets WHERE env_id = $1 AND path = $2",
            &[&env_id, &path],
        )?;
        row.map(|r| {
            Ok(Packet {
                env_id: r.try_get(0)?,
                path: r.try_get(1)?,
                content_type: r.try_get(2)?,
                data: r.try_get(3)?,
                created_at: r.try_get(4)?,
            })
        })
        .transpose()
    }
}
