//! Personal access tokens (`tr_pat_` and 40 alphanumerics): operator credentials for the
//! official `trigger.dev` CLI's login calls. An operator makes one with `trigr keys pat
//! create`; the CLI sends it to `GET /api/v2/whoami` and `GET /api/v1/projects/{ref}/{env}`,
//! which hands it a secret key of that environment.
//!
//! * **Reach.** A token is the operator's: it reaches every project and environment. It is
//!   accepted only by the login routes; everything else takes the environment's secret key
//!   that [`Engine::pat_env_key`] hands out.
//! * **At rest.** A token is kept as its SHA-256 and the start that was shown, like a secret
//!   key; it is shown once, when made.
//! * **The handed key.** The first call for a (token, environment) mints a new secret key of the
//!   environment (an ordinary key, accepted everywhere a key is) and keeps it sealed with the
//!   server's encryption key, bound to the environment and the token; later calls hand out the
//!   same key. A handed key that was revoked or rotated out since, or that this server's key
//!   cannot open, is replaced by a new one.
//! * **Revocation.** [`Engine::revoke_pat`] revokes the token and every key handed to it in one
//!   write. The token is refused at once by every server (each call reads the store; nothing is
//!   cached), its keys within the secret keys' recheck time (half a second).

use rand::Rng;
use trigr_store::{Environment, PatEnvKey, PersonalAccessToken, Project};
use trigr_types::id;

use crate::{Engine, Error, Result, Txn};

/// What every personal access token starts with.
pub const TOKEN_PREFIX: &str = "tr_pat_";
/// Random alphanumerics after [`TOKEN_PREFIX`].
pub const TOKEN_CHARS: usize = 40;
/// The longest name, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// The longest email address, in bytes.
pub const MAX_EMAIL_BYTES: usize = 254;
/// The domain of the address `whoami` gives a token made without `--email`: reserved, so it
/// never reaches anyone.
pub const DEFAULT_EMAIL_DOMAIN: &str = "trigr.invalid";

const KEY_ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// A token just made: the token (shown once) and how it is kept.
#[derive(Clone, Debug)]
pub struct Created {
    pub token: String,
    pub pat: PersonalAccessToken,
}

/// A revoked token, and how many secret keys handed to it were revoked with it.
#[derive(Clone, Debug)]
pub struct Revoked {
    pub pat: PersonalAccessToken,
    pub keys: usize,
}

/// Who a token is, as `whoami` answers, and the project it asked about if that exists.
#[derive(Clone, Debug)]
pub struct Identity {
    pub pat: PersonalAccessToken,
    /// The address `whoami` gives: the one given at creation, else one made from the name.
    pub email: String,
    pub project: Option<ProjectIdentity>,
}

/// A project as `whoami` names it.
#[derive(Clone, Debug)]
pub struct ProjectIdentity {
    pub project: Project,
    /// The slug of its organization.
    pub org_title: String,
}

/// The secret key handed to a token for an environment.
#[derive(Clone, Debug)]
pub struct HandedKey {
    pub key: String,
    pub project: Project,
    pub env: Environment,
}

/// Whether `token` has the shape of a personal access token.
pub fn is_token(token: &str) -> bool {
    token.strip_prefix(TOKEN_PREFIX).is_some_and(|rest| {
        rest.len() == TOKEN_CHARS && rest.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

/// A token's name: 1 to [`MAX_NAME_CHARS`] characters, not only spaces, no control character.
pub fn check_name(name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(Error::invalid("the token's name must not be empty"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(Error::invalid(format!(
            "the token's name is longer than {MAX_NAME_CHARS} characters"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::invalid(
            "the token's name must not contain control characters",
        ));
    }
    Ok(())
}

/// An email address the official CLI accepts (its schema's `.email()` check): a local part of
/// letters, digits and `_'+-.` (not starting or ending with a dot, no two dots in a row), `@`,
/// and a domain of at least two labels ending in letters.
pub fn check_email(email: &str) -> Result<()> {
    let bad = || {
        Error::invalid(format!(
            "'{}' is not an email address the trigger.dev CLI accepts (like ops@example.com)",
            email.escape_debug()
        ))
    };
    if email.len() > MAX_EMAIL_BYTES {
        return Err(Error::invalid(format!(
            "the email address is longer than {MAX_EMAIL_BYTES} bytes"
        )));
    }
    let (local, domain) = email.split_once('@').ok_or_else(bad)?;
    let local_ok = !local.is_empty()
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_'+-.".contains(&b))
        && !local.starts_with('.')
        && !local.ends_with(['.', '\''])
        && !email.contains("..");
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic()));
    if local_ok && domain_ok {
        Ok(())
    } else {
        Err(bad())
    }
}

/// The address `whoami` gives a token: its own, else `<name>@trigr.invalid` (the name's
/// letters and digits, other characters as `-`), else `<id>@trigr.invalid`.
pub fn email_of(pat: &PersonalAccessToken) -> String {
    if let Some(email) = &pat.email {
        return email.clone();
    }
    let mut local = String::new();
    for c in pat.name.chars() {
        if c.is_ascii_alphanumeric() {
            local.push(c.to_ascii_lowercase());
        } else if !local.is_empty() && !local.ends_with('-') {
            local.push('-');
        }
    }
    let local = local.trim_end_matches('-');
    let local = if local.is_empty() {
        pat.id.as_str()
    } else {
        &local[..local.len().min(64)]
    };
    format!("{local}@{DEFAULT_EMAIL_DOMAIN}")
}

/// The stored slug of an environment a login call names: `stg` and `staging` both name staging;
/// `preview` is refused (trigr has no preview environments).
pub fn env_slug(slug: &str) -> Result<&'static str> {
    match slug {
        "dev" => Ok("dev"),
        "stg" | "staging" => Ok("staging"),
        "prod" => Ok("prod"),
        "preview" => Err(Error::invalid(
            "preview environments are not supported by trigr: use dev, staging or prod",
        )),
        other => Err(Error::invalid(format!(
            "unknown environment '{}': use dev, staging or prod",
            other.chars().take(64).collect::<String>().escape_debug()
        ))),
    }
}

fn new_token() -> String {
    let mut rng = rand::thread_rng();
    let rest: String = (0..TOKEN_CHARS)
        .map(|_| KEY_ALPHABET[rng.gen_range(0..KEY_ALPHABET.len())] as char)
        .collect();
    format!("{TOKEN_PREFIX}{rest}")
}

/// A new token of this name and email, made at `now`, not stored yet.
pub(crate) fn new_pat(name: String, email: Option<String>, now: trigr_types::Millis) -> Created {
    let token = new_token();
    let pat = PersonalAccessToken {
        id: id::new("pat"),
        name,
        email,
        token_hash: id::sha256_hex(&token),
        prefix: id::key_prefix(&token),
        created_at: now,
        last_used_at: None,
        revoked_at: None,
    };
    Created { token, pat }
}

/// What a handed key is sealed as: bound to its token, so a sealed key copied to another
/// token's row does not open.
fn seal_label(pat_id: &str) -> String {
    format!("pat:{pat_id}")
}

impl Engine {
    /// Makes a token (name and email already checked with [`check_name`] and
    /// [`check_email`]). The token is in the answer only: the store keeps its hash.
    pub async fn create_pat(&self, name: String, email: Option<String>) -> Result<Created> {
        check_name(&name)?;
        if let Some(e) = &email {
            check_email(e)?;
        }
        self.write(move |tx| {
            let created = new_pat(name, email, tx.now());
            if !tx.insert_pat(&created.pat)? {
                return Err(Error::Conflict(
                    "a token with the same id or hash exists already: try again".into(),
                ));
            }
            Ok(created)
        })
        .await
    }

    /// Every token, oldest first.
    pub async fn pats(&self) -> Result<Vec<PersonalAccessToken>> {
        self.read(|tx| Ok(tx.pats()?)).await
    }

    /// Revokes a token, named by the whole token or the prefix `trigr keys pat list` shows,
    /// and every secret key handed to it.
    pub async fn revoke_pat(&self, which: String) -> Result<Revoked> {
        let pats = self.pats().await?;
        let hash = id::sha256_hex(&which);
        let matching: Vec<&PersonalAccessToken> = pats
            .iter()
            .filter(|p| p.token_hash == hash || p.prefix == which)
            .collect();
        let pat = match matching.as_slice() {
            [one] => (*one).clone(),
            [] => {
                let shown = which.chars().take(80).collect::<String>();
                return Err(Error::not_found(format!(
                    "no personal access token is '{}' or starts with it as `trigr keys pat list` shows",
                    shown.escape_debug()
                )));
            }
            many => {
                return Err(Error::Conflict(format!(
                    "{} tokens start with '{which}': give the whole token",
                    many.len()
                )))
            }
        };
        let id = pat.id.clone();
        let (at, keys) = self
            .write(move |tx| {
                let now = tx.now();
                if !tx.revoke_pat(&id, now)? {
                    return Ok(None);
                }
                let mut revoked = 0;
                for key in tx.pat_env_keys(&id)? {
                    if tx.revoke_api_key(&key.key_hash, now)? {
                        revoked += 1;
                    }
                }
                Ok(Some((now, revoked)))
            })
            .await?
            .ok_or_else(|| {
                Error::Conflict(format!(
                    "the personal access token {} was already revoked",
                    pat.prefix
                ))
            })?;
        Ok(Revoked {
            pat: PersonalAccessToken {
                revoked_at: Some(at),
                ..pat
            },
            keys,
        })
    }

    /// Who `token` is (`None`: not a token this store accepts: unknown, revoked or of another
    /// shape), with the project `project_ref` names if there is one; records the use.
    pub async fn pat_identity(
        &self,
        token: &str,
        project_ref: Option<String>,
    ) -> Result<Option<Identity>> {
        if !is_token(token) {
            return Ok(None);
        }
        let hash = id::sha256_hex(token);
        if !self.pat_known(&hash).await? {
            return Ok(None);
        }
        self.write(move |tx| {
            let Some(pat) = accepted(tx, &hash)? else {
                return Ok(None);
            };
            let project = match project_ref {
                Some(r) => match tx.projects()?.into_iter().find(|p| p.project_ref == r) {
                    Some(project) => {
                        let org_title = tx
                            .organization_slug(&project.org_id)?
                            .unwrap_or_else(|| project.org_id.clone());
                        Some(ProjectIdentity { project, org_title })
                    }
                    None => None,
                },
                None => None,
            };
            Ok(Some(Identity {
                email: email_of(&pat),
                pat,
                project,
            }))
        })
        .await
    }

    /// The secret key handed to `token` for environment `slug` of the project `project_ref`,
    /// minted on the first call (`None`: the token is not accepted). The token is checked
    /// before the slug ([`env_slug`]) and the project are.
    pub async fn pat_env_key(
        &self,
        token: &str,
        project_ref: String,
        slug: String,
    ) -> Result<Option<HandedKey>> {
        if !is_token(token) {
            return Ok(None);
        }
        let hash = id::sha256_hex(token);
        if !self.pat_known(&hash).await? {
            return Ok(None);
        }
        let cipher = self.env_var_cipher()?;
        self.write(move |tx| {
            let Some(pat) = accepted(tx, &hash)? else {
                return Ok(None);
            };
            let slug = env_slug(&slug)?;
            let project = tx
                .projects()?
                .into_iter()
                .find(|p| p.project_ref == project_ref)
                .ok_or_else(|| Error::not_found("Project not found"))?;
            let env = tx
                .environments()?
                .into_iter()
                .find(|e| e.project_id == project.id && e.slug == slug)
                .ok_or_else(|| {
                    Error::not_found(format!(
                        "project {} has no {slug} environment",
                        project.project_ref
                    ))
                })?;
            let now = tx.now();
            let label = seal_label(&pat.id);
            tx.lock_pat(&pat.id)?;
            if let Some(kept) = tx.pat_env_key(&pat.id, &env.id)? {
                let valid = match tx.env_by_key_hash(&kept.key_hash)? {
                    Some((owner, ends)) => owner.id == env.id && ends.is_none_or(|at| at > now),
                    None => false,
                };
                let opened = valid
                    .then(|| cipher.open(&env.id, &label, &kept.sealed_key).ok())
                    .flatten();
                if let Some(key) = opened {
                    return Ok(Some(HandedKey { key, project, env }));
                }
                // Revoked or rotated out since, or sealed under another server key: the key
                // is replaced, and one nobody can be handed again is not left accepted.
                tx.revoke_api_key(&kept.key_hash, now)?;
            }
            let key = mint(tx, &env, now)?;
            tx.put_pat_env_key(&PatEnvKey {
                pat_id: pat.id.clone(),
                env_id: env.id.clone(),
                key_hash: id::sha256_hex(&key),
                sealed_key: cipher.seal(&env.id, &label, &key),
                created_at: now,
            })?;
            Ok(Some(HandedKey { key, project, env }))
        })
        .await
    }
}

impl Engine {
    /// Whether a token of this hash is accepted, read without a write: an unknown or revoked
    /// token costs no write transaction. The write that follows checks again.
    async fn pat_known(&self, hash: &str) -> Result<bool> {
        let hash = hash.to_string();
        self.read(move |tx| {
            Ok(tx
                .pat_by_hash(&hash)?
                .is_some_and(|p| p.revoked_at.is_none()))
        })
        .await
    }
}

/// The token with this hash if it is accepted (not revoked), its use recorded.
fn accepted(tx: &mut Txn<'_>, hash: &str) -> Result<Option<PersonalAccessToken>> {
    let pat = match tx.pat_by_hash(hash)? {
        Some(p) if p.revoked_at.is_none() => p,
        _ => return Ok(None),
    };
    let now = tx.now();
    tx.touch_pat(&pat.id, now)?;
    Ok(Some(PersonalAccessToken {
        last_used_at: Some(now),
        ..pat
    }))
}

fn mint(tx: &mut Txn<'_>, env: &Environment, now: trigr_types::Millis) -> Result<String> {
    crate::keys::insert_new(tx, env, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pat(name: &str, email: Option<&str>) -> PersonalAccessToken {
        PersonalAccessToken {
            id: "pat_abc".into(),
            name: name.into(),
            email: email.map(str::to_string),
            token_hash: String::new(),
            prefix: String::new(),
            created_at: 0,
            last_used_at: None,
            revoked_at: None,
        }
    }

    #[test]
    fn tokens_have_one_shape() {
        let token = new_token();
        assert!(is_token(&token), "{token}");
        assert_eq!(id::key_prefix(&token).len(), TOKEN_PREFIX.len() + 4);
        assert!(!is_token("tr_pat_short"));
        assert!(!is_token("tr_dev_0123456789012345678901234"));
        assert!(!is_token(&format!("{TOKEN_PREFIX}{}", "-".repeat(40))));
    }

    #[test]
    fn emails_pass_the_clis_check() {
        for good in ["ops@example.com", "a.b+c@d-e.io", "laptop@trigr.invalid"] {
            assert!(check_email(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "ops",
            "@example.com",
            "ops@",
            "ops@localhost",
            ".ops@example.com",
            "o..ps@example.com",
            "ops.@example.com",
            "o ps@example.com",
            "ops@example.c0m",
            "ops@-x.com",
        ] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
        assert_eq!(
            email_of(&pat("My Laptop!", None)),
            "my-laptop@trigr.invalid"
        );
        assert_eq!(email_of(&pat("???", None)), "pat_abc@trigr.invalid");
        assert_eq!(
            email_of(&pat("x", Some("ops@example.com"))),
            "ops@example.com"
        );
        for name in ["My Laptop!", "ünï", "a".repeat(100).as_str()] {
            assert!(check_email(&email_of(&pat(name, None))).is_ok(), "{name}");
        }
    }

    #[test]
    fn names_and_environments_are_checked() {
        assert!(check_name("laptop").is_ok());
        assert!(check_name(" ").is_err());
        assert!(check_name("a\nb").is_err());
        assert!(check_name(&"x".repeat(101)).is_err());
        assert_eq!(env_slug("stg").unwrap(), "staging");
        assert!(env_slug("preview")
            .unwrap_err()
            .to_string()
            .contains("preview"));
        assert!(env_slug("qa").is_err());
    }
}
