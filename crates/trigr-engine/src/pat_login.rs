//! `trigger.dev login` against trigr: the CLI's login by authorization code, approved by an
//! operator on the store (`trigr keys pat approve`) instead of in a browser session, since a
//! personal access token reaches every project and only someone who can open the store may
//! make one.
//!
//! 1. The CLI sends a PKCE challenge (`POST /api/v1/authorization-code`); [`Engine::start_pat_login`]
//!    keeps the challenge under the hash of a new authorization code, for [`LOGIN_TTL_MS`], and
//!    the CLI is told to expect an approval code pasted by its user.
//! 2. The operator runs `trigr keys pat approve <authorization code> --name NAME`
//!    ([`Engine::approve_pat_login`]), which prints an approval code, shown once; the store
//!    keeps its hash.
//! 3. The CLI sends the authorization code, its PKCE verifier and the pasted approval code
//!    (`POST /api/v1/token`); [`Engine::finish_pat_login`] checks all three and makes the
//!    token, once.
//!
//! The authorization code alone gets nothing: the token needs the verifier only the CLI holds
//! and the approval code only the operator saw. At most [`MAX_LOGINS`] logins are kept; expired
//! ones are forgotten when a new one starts.

use base64::Engine as _;
use rand::Rng;
use trigr_store::PatLogin;
use trigr_types::{id, Millis};

use crate::pats::{self, Created};
use crate::{Engine, Error, Result};

/// How long a login may wait for its approval and exchange: ten minutes.
pub const LOGIN_TTL_MS: Millis = 10 * 60 * 1000;
/// The most logins kept at once.
pub const MAX_LOGINS: usize = 100;
/// Characters of an authorization code.
const CODE_CHARS: usize = 32;
/// Characters of an approval code.
const APPROVAL_CHARS: usize = 12;
/// The only challenge method the CLI uses.
pub const CHALLENGE_METHOD: &str = "S256";

const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

fn random(len: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// A PKCE challenge as the CLI sends it: 43 characters of base64url (a SHA-256), method S256.
pub fn check_challenge(challenge: &str, method: &str) -> Result<()> {
    if method != CHALLENGE_METHOD {
        return Err(Error::invalid(format!(
            "codeChallengeMethod must be {CHALLENGE_METHOD}"
        )));
    }
    let fine = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    if challenge.len() != 43 || !challenge.bytes().all(fine) {
        return Err(Error::invalid(
            "codeChallenge must be 43 characters of base64url: the SHA-256 of the verifier",
        ));
    }
    Ok(())
}

/// The challenge of a verifier: base64url (no padding) of its SHA-256.
fn challenge_of(verifier: &str) -> String {
    let digest = hex::decode(id::sha256_hex(verifier)).expect("SHA-256 hex decodes");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
}

/// Whether two strings are equal, in time that depends only on their lengths.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// How a login waiting for approval is answered.
#[derive(Clone, Debug)]
pub enum Exchange {
    /// Not approved yet.
    Pending,
    /// The token, made now.
    Made(Created),
}

impl Engine {
    /// Starts a login for a checked challenge ([`check_challenge`]); returns its authorization
    /// code.
    pub async fn start_pat_login(&self, challenge: String) -> Result<String> {
        self.write(move |tx| {
            let now = tx.now();
            tx.delete_expired_pat_logins(now)?;
            let code = random(CODE_CHARS);
            let login = PatLogin {
                code_hash: id::sha256_hex(&code),
                challenge,
                created_at: now,
                expires_at: now + LOGIN_TTL_MS,
                approval_hash: None,
                name: None,
                email: None,
                approved_at: None,
                pat_id: None,
            };
            if !tx.insert_pat_login(&login, MAX_LOGINS)? {
                return Err(Error::Conflict(format!(
                    "{MAX_LOGINS} logins already wait for approval: approve them with `trigr keys pat approve`, or wait for them to expire (10 minutes)"
                )));
            }
            Ok(code)
        })
        .await
    }

    /// Approves the login of an authorization code (on the store, `trigr keys pat approve`)
    /// for a token of this name and email; returns the approval code to paste into the CLI.
    pub async fn approve_pat_login(
        &self,
        code: String,
        name: String,
        email: Option<String>,
    ) -> Result<String> {
        pats::check_name(&name)?;
        if let Some(e) = &email {
            pats::check_email(e)?;
        }
        self.write(move |tx| {
            let now = tx.now();
            let hash = id::sha256_hex(code.trim());
            let approval = random(APPROVAL_CHARS);
            let approved = tx.approve_pat_login(
                &hash,
                &id::sha256_hex(&approval),
                &name,
                email.as_deref(),
                now,
            )?;
            if approved {
                return Ok(approval);
            }
            Err(match tx.pat_login(&hash)? {
                Some(l) if l.approved_at.is_some() => {
                    Error::Conflict("this login was approved already".into())
                }
                Some(_) => {
                    Error::Conflict("this login expired: run `trigger.dev login` again".into())
                }
                None => {
                    Error::not_found("no login has this authorization code (it may have expired)")
                }
            })
        })
        .await
    }

    /// Exchanges an approved login for its token, once: the authorization code, the CLI's PKCE
    /// verifier and the approval code must all match.
    pub async fn finish_pat_login(
        &self,
        code: String,
        verifier: Option<String>,
        approval: Option<String>,
    ) -> Result<Exchange> {
        let bounded = |s: &Option<String>| s.as_ref().is_none_or(|v| v.len() <= 256);
        if code.len() > 256 || !bounded(&verifier) || !bounded(&approval) {
            return Err(Error::invalid("the codes are at most 256 characters"));
        }
        self.write(move |tx| {
            let now = tx.now();
            let hash = id::sha256_hex(&code);
            let login = match tx.pat_login(&hash)? {
                Some(l) if l.expires_at > now => l,
                _ => {
                    return Err(Error::not_found(
                        "no login has this authorization code (it may have expired): run `trigger.dev login` again",
                    ))
                }
            };
            let (Some(approval_hash), Some(name)) = (&login.approval_hash, &login.name) else {
                return Ok(Exchange::Pending);
            };
            let Some(approval) = approval else {
                return Err(Error::invalid(
                    "this login needs the approval code `trigr keys pat approve` printed",
                ));
            };
            let verified = verifier.is_some_and(|v| same(&challenge_of(&v), &login.challenge));
            if !verified || !same(&id::sha256_hex(approval.trim()), approval_hash) {
                return Err(Error::invalid(
                    "the approval code or the code verifier does not match this login",
                ));
            }
            let created = pats::new_pat(name.clone(), login.email.clone(), now);
            if !tx.insert_pat(&created.pat)? || !tx.finish_pat_login(&hash, &created.pat.id, now)?
            {
                return Err(Error::Conflict(
                    "this login was exchanged for its token already".into(),
                ));
            }
            Ok(Exchange::Made(created))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_are_checked_and_made_as_pkce_says() {
        // RFC 7636, appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = challenge_of(verifier);
        assert_eq!(challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        assert!(check_challenge(&challenge, "S256").is_ok());
        assert!(check_challenge(&challenge, "plain").is_err());
        assert!(check_challenge("short", "S256").is_err());
        assert!(check_challenge(&"=".repeat(43), "S256").is_err());
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }
}
