//! Uploaded payload packets (a BLOB in SQLite, BYTEA in PostgreSQL).

use super::{sql, Db, Sql};
use crate::model::Packet;
use crate::rows::Columns;
use crate::tx::{PacketRead, PacketTx};
use crate::Result;

static PUT: Sql = sql!(
    "INSERT INTO packets (env_id, path, content_type, data, created_at) \
     VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (env_id, path) DO UPDATE SET content_type = excluded.content_type, \
     data = excluded.data, created_at = excluded.created_at"
);
static GET: Sql = sql!(
    "SELECT env_id, path, content_type, data, created_at FROM packets \
     WHERE env_id = $1 AND path = $2"
);

impl<C: Db> PacketRead for C {
    fn packet(&mut self, env_id: &str, path: &str) -> Result<Option<Packet>> {
        if !C::TEXT_KEEPS_NUL && path.contains('\0') {
            // Text cannot hold a NUL, so no stored path has one (a run's payload may name one).
            return Ok(None);
        }
        self.query_first(&GET, &[&env_id, &path], |r| {
            Ok(Packet {
                env_id: r.text(0)?,
                path: r.text(1)?,
                content_type: r.text(2)?,
                data: r.bytes(3)?,
                created_at: r.int(4)?,
            })
        })
    }
}

impl<C: Db> PacketTx for C {
    fn put_packet(&mut self, p: &Packet) -> Result<()> {
        self.execute(
            &PUT,
            &[&p.env_id, &p.path, &p.content_type, &p.data, &p.created_at],
        )?;
        Ok(())
    }
}
