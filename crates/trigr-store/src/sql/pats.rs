//! Personal access tokens and the keys handed to them (`crate::pats`).

use trigr_types::Millis;

use super::queues::NamedLock;
use super::{sql, Db, Sql};
use crate::pats::{PatEnvKey, PatLogin, PatRead, PatTx, PersonalAccessToken};
use crate::rows::Columns;
use crate::Result;

const COLUMNS: &str = "id, name, email, token_hash, prefix, created_at, last_used_at, revoked_at";
const KEY_COLUMNS: &str = "pat_id, env_id, key_hash, sealed_key, created_at";

static BY_HASH: Sql = sql!("SELECT {COLUMNS} FROM personal_access_tokens WHERE token_hash = $1");
static ALL: Sql = sql!("SELECT {COLUMNS} FROM personal_access_tokens ORDER BY created_at, id");
static INSERT: Sql = sql!(
    "INSERT INTO personal_access_tokens ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
     ON CONFLICT DO NOTHING"
);
static TOUCH: Sql = sql!(
    "UPDATE personal_access_tokens SET last_used_at = $2 \
     WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)"
);
static REVOKE: Sql =
    sql!("UPDATE personal_access_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL");
static KEY: Sql = sql!("SELECT {KEY_COLUMNS} FROM pat_env_keys WHERE pat_id = $1 AND env_id = $2");
static KEYS: Sql = sql!("SELECT {KEY_COLUMNS} FROM pat_env_keys WHERE pat_id = $1 ORDER BY env_id");
static PUT_KEY: Sql = sql!(
    "INSERT INTO pat_env_keys ({KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (pat_id, env_id) DO UPDATE SET key_hash = excluded.key_hash, \
     sealed_key = excluded.sealed_key, created_at = excluded.created_at"
);
const LOGIN_COLUMNS: &str = "code_hash, challenge, created_at, expires_at, approval_hash, name, \
                             email, approved_at, pat_id";
static LOGIN: Sql = sql!("SELECT {LOGIN_COLUMNS} FROM pat_logins WHERE code_hash = $1");
static DELETE_EXPIRED_LOGINS: Sql = sql!("DELETE FROM pat_logins WHERE expires_at <= $1");
// One statement decides both the limit and the code: no row when the table is full.
static INSERT_LOGIN: Sql = sql!(
    "INSERT INTO pat_logins (code_hash, challenge, created_at, expires_at) \
     SELECT $1, $2, CAST($3 AS BIGINT), CAST($4 AS BIGINT) \
     WHERE (SELECT COUNT(*) FROM pat_logins) < $5 ON CONFLICT DO NOTHING"
);
static APPROVE_LOGIN: Sql = sql!(
    "UPDATE pat_logins SET approval_hash = $2, name = $3, email = $4, approved_at = $5 \
     WHERE code_hash = $1 AND approved_at IS NULL AND expires_at > $5"
);
static FINISH_LOGIN: Sql = sql!(
    "UPDATE pat_logins SET pat_id = $2 WHERE code_hash = $1 AND approved_at IS NOT NULL \
     AND pat_id IS NULL AND expires_at > $3"
);
static ORG_SLUG: Sql = sql!("SELECT slug FROM organizations WHERE id = $1");

fn pat(r: &impl Columns) -> Result<PersonalAccessToken> {
    Ok(PersonalAccessToken {
        id: r.text(0)?,
        name: r.text(1)?,
        email: r.opt_text(2)?,
        token_hash: r.text(3)?,
        prefix: r.text(4)?,
        created_at: r.int(5)?,
        last_used_at: r.opt_int(6)?,
        revoked_at: r.opt_int(7)?,
    })
}

fn key(r: &impl Columns) -> Result<PatEnvKey> {
    Ok(PatEnvKey {
        pat_id: r.text(0)?,
        env_id: r.text(1)?,
        key_hash: r.text(2)?,
        sealed_key: r.text(3)?,
        created_at: r.int(4)?,
    })
}

fn login(r: &impl Columns) -> Result<PatLogin> {
    Ok(PatLogin {
        code_hash: r.text(0)?,
        challenge: r.text(1)?,
        created_at: r.int(2)?,
        expires_at: r.int(3)?,
        approval_hash: r.opt_text(4)?,
        name: r.opt_text(5)?,
        email: r.opt_text(6)?,
        approved_at: r.opt_int(7)?,
        pat_id: r.opt_text(8)?,
    })
}

impl<C: Db> PatRead for C {
    fn pat_login(&mut self, code_hash: &str) -> Result<Option<PatLogin>> {
        self.query_first(&LOGIN, &[&code_hash], |r| login(r))
    }

    fn pat_by_hash(&mut self, token_hash: &str) -> Result<Option<PersonalAccessToken>> {
        self.query_first(&BY_HASH, &[&token_hash], |r| pat(r))
    }

    fn pats(&mut self) -> Result<Vec<PersonalAccessToken>> {
        self.query(&ALL, &[], |r| pat(r))
    }

    fn pat_env_key(&mut self, pat_id: &str, env_id: &str) -> Result<Option<PatEnvKey>> {
        self.query_first(&KEY, &[&pat_id, &env_id], |r| key(r))
    }

    fn pat_env_keys(&mut self, pat_id: &str) -> Result<Vec<PatEnvKey>> {
        self.query(&KEYS, &[&pat_id], |r| key(r))
    }

    fn organization_slug(&mut self, org_id: &str) -> Result<Option<String>> {
        self.query_first(&ORG_SLUG, &[&org_id], |r| r.text(0))
    }
}

impl<C: Db + NamedLock> PatTx for C {
    fn lock_pat(&mut self, id: &str) -> Result<()> {
        self.lock_name(&format!("pats:{id}"))
    }

    fn insert_pat(&mut self, p: &PersonalAccessToken) -> Result<bool> {
        let written = self.execute(
            &INSERT,
            &[
                &p.id,
                &p.name,
                &p.email,
                &p.token_hash,
                &p.prefix,
                &p.created_at,
                &p.last_used_at,
                &p.revoked_at,
            ],
        )?;
        Ok(written == 1)
    }

    fn touch_pat(&mut self, id: &str, at: Millis) -> Result<()> {
        self.execute(&TOUCH, &[&id, &at])?;
        Ok(())
    }

    fn revoke_pat(&mut self, id: &str, now: Millis) -> Result<bool> {
        Ok(self.execute(&REVOKE, &[&id, &now])? == 1)
    }

    fn delete_expired_pat_logins(&mut self, now: Millis) -> Result<usize> {
        let deleted = self.execute(&DELETE_EXPIRED_LOGINS, &[&now])?;
        Ok(usize::try_from(deleted).unwrap_or(usize::MAX))
    }

    fn insert_pat_login(&mut self, l: &PatLogin, max: usize) -> Result<bool> {
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        let written = self.execute(
            &INSERT_LOGIN,
            &[
                &l.code_hash,
                &l.challenge,
                &l.created_at,
                &l.expires_at,
                &max,
            ],
        )?;
        Ok(written == 1)
    }

    fn approve_pat_login(
        &mut self,
        code_hash: &str,
        approval_hash: &str,
        name: &str,
        email: Option<&str>,
        now: Millis,
    ) -> Result<bool> {
        let written = self.execute(
            &APPROVE_LOGIN,
            &[&code_hash, &approval_hash, &name, &email, &now],
        )?;
        Ok(written == 1)
    }

    fn finish_pat_login(&mut self, code_hash: &str, pat_id: &str, now: Millis) -> Result<bool> {
        Ok(self.execute(&FINISH_LOGIN, &[&code_hash, &pat_id, &now])? == 1)
    }

    fn put_pat_env_key(&mut self, k: &PatEnvKey) -> Result<()> {
        self.execute(
            &PUT_KEY,
            &[
                &k.pat_id,
                &k.env_id,
                &k.key_hash,
                &k.sealed_key,
                &k.created_at,
            ],
        )?;
        Ok(())
    }
}
