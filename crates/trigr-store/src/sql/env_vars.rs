//! An environment's variables (`crate::env_vars`).

use super::queues::NamedLock;
use super::{sql, Db, Sql};
use crate::env_vars::{EnvVar, EnvVarRead, EnvVarTx};
use crate::rows::Columns;
use crate::Result;
use trigr_types::Millis;

const COLUMNS: &str = "name, value, is_secret, created_at, updated_at";
static ALL: Sql = sql!("SELECT {COLUMNS} FROM env_vars WHERE env_id = $1 ORDER BY name");
static ONE: Sql = sql!("SELECT {COLUMNS} FROM env_vars WHERE env_id = $1 AND name = $2");
static NAMES: Sql = sql!("SELECT name FROM env_vars WHERE env_id = $1 ORDER BY name");
/// Inserting a variable: the text both `PUT` and `INSERT` are built from.
const INSERT_ROW: &str =
    "INSERT INTO env_vars (env_id, name, value, is_secret, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6)";
static PUT: Sql = sql!(
    "{INSERT_ROW} ON CONFLICT (env_id, name) DO UPDATE SET value = excluded.value, \
     is_secret = CASE WHEN env_vars.is_secret = 1 THEN 1 ELSE excluded.is_secret END, \
     updated_at = excluded.updated_at"
);
static INSERT: Sql = sql!("{INSERT_ROW} ON CONFLICT (env_id, name) DO NOTHING");
static UPDATE: Sql =
    sql!("UPDATE env_vars SET value = $3, updated_at = $4 WHERE env_id = $1 AND name = $2");
static DELETE: Sql = sql!("DELETE FROM env_vars WHERE env_id = $1 AND name = $2");

fn env_var(r: &impl Columns) -> Result<EnvVar> {
    Ok(EnvVar {
        name: r.text(0)?,
        value: r.text(1)?,
        is_secret: r.int(2)? != 0,
        created_at: r.int(3)?,
        updated_at: r.int(4)?,
    })
}

impl<C: Db> EnvVarRead for C {
    fn env_var_names(&mut self, env_id: &str) -> Result<Vec<String>> {
        self.query(&NAMES, &[&env_id], |r| r.text(0))
    }

    fn env_vars(&mut self, env_id: &str) -> Result<Vec<EnvVar>> {
        self.query(&ALL, &[&env_id], |r| env_var(r))
    }

    fn env_var(&mut self, env_id: &str, name: &str) -> Result<Option<EnvVar>> {
        self.query_first(&ONE, &[&env_id, &name], |r| env_var(r))
    }
}

fn write<C: Db>(db: &mut C, sql: &'static Sql, env_id: &str, v: &EnvVar) -> Result<u64> {
    let secret = i64::from(v.is_secret);
    db.execute(
        sql,
        &[
            &env_id,
            &v.name,
            &v.value,
            &secret,
            &v.created_at,
            &v.updated_at,
        ],
    )
}

impl<C: Db + NamedLock> EnvVarTx for C {
    fn lock_env_vars(&mut self, env_id: &str) -> Result<()> {
        self.lock_name(&format!("env_vars:{env_id}"))
    }

    fn env_var_put(&mut self, env_id: &str, var: &EnvVar) -> Result<()> {
        write(self, &PUT, env_id, var)?;
        Ok(())
    }

    fn env_var_insert(&mut self, env_id: &str, var: &EnvVar) -> Result<bool> {
        Ok(write(self, &INSERT, env_id, var)? == 1)
    }

    fn env_var_update(
        &mut self,
        env_id: &str,
        name: &str,
        value: &str,
        updated_at: Millis,
    ) -> Result<bool> {
        Ok(self.execute(&UPDATE, &[&env_id, &name, &value, &updated_at])? == 1)
    }

    fn env_var_delete(&mut self, env_id: &str, name: &str) -> Result<bool> {
        Ok(self.execute(&DELETE, &[&env_id, &name])? == 1)
    }
}
