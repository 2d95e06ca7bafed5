//! An environment's AI tool definitions (`crate::ai_tools`).

use super::queues::NamedLock;
use super::{int, sql, Db, Sql};
use crate::ai_tools::{AiTool, AiToolRead, AiToolTx};
use crate::rows::Columns;
use crate::Result;

const COLUMNS: &str =
    "id, env_id, name, description, task_id, parameters, display, created_at, updated_at";

static BY_NAME: Sql = sql!("SELECT {COLUMNS} FROM ai_tools WHERE env_id = $1 AND name = $2");
static PAGE: Sql =
    sql!("SELECT {COLUMNS} FROM ai_tools WHERE env_id = $1 ORDER BY name LIMIT $2 OFFSET $3");
static COUNT: Sql = sql!("SELECT COUNT(*) FROM ai_tools WHERE env_id = $1");
// One statement decides both the limit and the name: no row when the environment is full, and
// the conflict clause leaves a taken name as it is. Writers of one environment's tools hold its
// named lock first (`lock_ai_tools`), so on PostgreSQL the count cannot be read by two inserts
// at once.
static INSERT: Sql = sql!(
    "INSERT INTO ai_tools ({COLUMNS}) \
     SELECT $1, $2, $3, $4, $5, $6, $7, CAST($8 AS BIGINT), CAST($9 AS BIGINT) \
     WHERE (SELECT COUNT(*) FROM ai_tools WHERE env_id = $2) < $10 \
     ON CONFLICT (env_id, name) DO NOTHING"
);
static UPDATE: Sql = sql!(
    "UPDATE ai_tools SET description = $3, task_id = $4, parameters = $5, display = $6, \
     updated_at = $7 WHERE env_id = $1 AND id = $2"
);
static DELETE: Sql = sql!("DELETE FROM ai_tools WHERE env_id = $1 AND name = $2");

fn tool(r: &impl Columns) -> Result<AiTool> {
    Ok(AiTool {
        id: r.text(0)?,
        env_id: r.text(1)?,
        name: r.text(2)?,
        description: r.text(3)?,
        task_id: r.text(4)?,
        parameters: r.text(5)?,
        display: r.text(6)?,
        created_at: r.int(7)?,
        updated_at: r.int(8)?,
    })
}

fn whole(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl<C: Db> AiToolRead for C {
    fn ai_tool(&mut self, env_id: &str, name: &str) -> Result<Option<AiTool>> {
        self.query_first(&BY_NAME, &[&env_id, &name], |r| tool(r))
    }

    fn ai_tools(&mut self, env_id: &str, offset: usize, limit: usize) -> Result<Vec<AiTool>> {
        self.query(&PAGE, &[&env_id, &whole(limit), &whole(offset)], |r| {
            tool(r)
        })
    }

    fn ai_tool_count(&mut self, env_id: &str) -> Result<i64> {
        int(self, &COUNT, &[&env_id])
    }
}

impl<C: Db + NamedLock> AiToolTx for C {
    fn lock_ai_tools(&mut self, env_id: &str) -> Result<()> {
        self.lock_name(&format!("ai_tools:{env_id}"))
    }

    fn insert_ai_tool(&mut self, t: &AiTool, max: usize) -> Result<bool> {
        let written = self.execute(
            &INSERT,
            &[
                &t.id,
                &t.env_id,
                &t.name,
                &t.description,
                &t.task_id,
                &t.parameters,
                &t.display,
                &t.created_at,
                &t.updated_at,
                &whole(max),
            ],
        )?;
        Ok(written == 1)
    }

    fn update_ai_tool(&mut self, t: &AiTool) -> Result<bool> {
        let written = self.execute(
            &UPDATE,
            &[
                &t.env_id,
                &t.id,
                &t.description,
                &t.task_id,
                &t.parameters,
                &t.display,
                &t.updated_at,
            ],
        )?;
        Ok(written == 1)
    }

    fn delete_ai_tool(&mut self, env_id: &str, name: &str) -> Result<bool> {
        Ok(self.execute(&DELETE, &[&env_id, &name])? == 1)
    }
}
