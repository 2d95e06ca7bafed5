//! Snapshot chains (`crate::snapshots`).

use super::{sql, Db, Sql};
use crate::rows::Columns;
use crate::snapshots::{Snapshot, SnapshotRead, SnapshotStatus, SnapshotTx};
use crate::{Error, Result};

const COLUMNS: &str = "run_id, seq, id, status, lease, attempt, waitpoints, created_at";

static LATEST: Sql =
    sql!("SELECT {COLUMNS} FROM run_snapshots WHERE run_id = $1 ORDER BY seq DESC LIMIT 1");
static BY_ID: Sql = sql!("SELECT {COLUMNS} FROM run_snapshots WHERE run_id = $1 AND id = $2");
static AFTER: Sql = sql!(
    "SELECT {COLUMNS} FROM run_snapshots WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
);
// The primary key (run_id, seq) makes a second writer of the same seq a conflict.
static INSERT: Sql =
    sql!("INSERT INTO run_snapshots ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)");

fn snapshot(r: &impl Columns) -> Result<Snapshot> {
    let status = r.text(3)?;
    let waitpoints = r.text(6)?;
    Ok(Snapshot {
        run_id: r.text(0)?,
        seq: r.int(1)?,
        id: r.text(2)?,
        status: SnapshotStatus::parse(&status)
            .ok_or_else(|| Error::Corrupt(format!("unknown snapshot status '{status}'")))?,
        lease: r.opt_text(4)?,
        attempt: r.int(5)?,
        waitpoints: serde_json::from_str(&waitpoints)
            .map_err(|e| Error::Corrupt(format!("snapshot waitpoints '{waitpoints}': {e}")))?,
        created_at: r.int(7)?,
    })
}

impl<C: Db> SnapshotRead for C {
    fn latest_snapshot(&mut self, run_id: &str) -> Result<Option<Snapshot>> {
        self.query_first(&LATEST, &[&run_id], |r| snapshot(r))
    }

    fn snapshot(&mut self, run_id: &str, id: &str) -> Result<Option<Snapshot>> {
        self.query_first(&BY_ID, &[&run_id, &id], |r| snapshot(r))
    }

    fn snapshots(&mut self, run_id: &str, after_seq: i64, limit: usize) -> Result<Vec<Snapshot>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.query(&AFTER, &[&run_id, &after_seq, &limit], |r| snapshot(r))
    }
}

impl<C: Db> SnapshotTx for C {
    fn insert_snapshot(&mut self, s: &Snapshot) -> Result<()> {
        let waitpoints = serde_json::to_string(&s.waitpoints)
            .map_err(|e| Error::Corrupt(format!("snapshot waitpoints: {e}")))?;
        self.execute(
            &INSERT,
            &[
                &s.run_id,
                &s.seq,
                &s.id,
                &s.status.as_str(),
                &s.lease,
                &s.attempt,
                &waitpoints,
                &s.created_at,
            ],
        )?;
        Ok(())
    }
}
