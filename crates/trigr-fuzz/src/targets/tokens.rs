//! Public access tokens built piece by piece: a header, claims, a signing key and a last-minute
//! mangling, with base64url and HMAC-SHA256 written here, independently of the server's JWT
//! library, so that they can also judge the tokens the server accepts.

use proptest::prelude::*;
use proptest::sample::{select, Index};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::gen::{json_text, text};

/// The audience of the tokens the server hands out and accepts.
pub const AUDIENCE: &str = "https://api.trigger.dev";

const B64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Base64url without padding.
pub fn b64url(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | ((*b as u32) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(B64URL[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// Strict base64url without padding: `None` for any other character, a length that no
/// encoding has, or unused bits that are not zero.
pub fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    let sextets: Vec<u32> = text
        .bytes()
        .map(|c| B64URL.iter().position(|&b| b == c).map(|p| p as u32))
        .collect::<Option<_>>()?;
    if sextets.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(sextets.len() * 3 / 4);
    for chunk in sextets.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, s)| n | (s << (18 - 6 * i)));
        let bytes = chunk.len() - 1;
        if n & ((1 << (24 - 8 * bytes)) - 1) != 0 {
            return None;
        }
        out.extend((0..bytes).map(|i| (n >> (16 - 8 * i)) as u8));
    }
    Some(out)
}

/// HMAC-SHA256 (RFC 2104).
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(message);
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// `header.claims.signature` signed with HS256 under `key`.
pub fn sign(header: &str, claims: &str, key: &[u8]) -> String {
    let input = format!(
        "{}.{}",
        b64url(header.as_bytes()),
        b64url(claims.as_bytes())
    );
    let signature = b64url(&hmac_sha256(key, input.as_bytes()));
    format!("{input}.{signature}")
}

/// Whether `token`'s signature is HS256 under one of `keys`.
pub fn signed_by(token: &str, keys: &[&str]) -> bool {
    let Some((input, signature)) = token.rsplit_once('.') else {
        return false;
    };
    keys.iter()
        .any(|k| b64url(&hmac_sha256(k.as_bytes(), input.as_bytes())) == signature)
}

/// The JSON of part `i` of a token, if it is strict base64url of JSON.
pub fn part_json(token: &str, i: usize) -> Option<Value> {
    let part = token.split('.').nth(i)?;
    serde_json::from_slice(&b64url_decode(part)?).ok()
}

/// What a claim is set to.
#[derive(Clone, Debug, PartialEq)]
pub enum Claim {
    /// The value the server expects.
    Right,
    Missing,
    Other(Value),
}

/// A time claim, relative to the time the token is checked.
#[derive(Clone, Debug, PartialEq)]
pub enum Time {
    Missing,
    /// Seconds from now.
    FromNow(i64),
    Raw(Value),
}

/// The key a token is signed with.
#[derive(Clone, Debug, PartialEq)]
pub enum Key {
    /// The environment's signing secret.
    Signing,
    /// The environment's secret key, as the SDK signs.
    SecretKey,
    Wrong(String),
}

/// A change made to the finished token.
#[derive(Clone, Debug)]
pub enum Mangle {
    None,
    FlipSignature(Index),
    DropSignature,
    ExtraSegment,
    Padding,
    StandardAlphabet,
    Insert(Index, char),
    Truncate(Index),
    Replace(String),
}

/// Everything a generated token is made of.
#[derive(Clone, Debug)]
pub struct TokenSpec {
    pub header: String,
    pub sub: Claim,
    pub public: Claim,
    pub exp: Time,
    pub nbf: Time,
    pub aud: Claim,
    pub scopes: Claim,
    /// Operation and path, for presigned packet URLs.
    pub op: Claim,
    pub path: String,
    pub key: Key,
    pub mangle: Mangle,
}

/// What the server knows: whose tokens it accepts, and with which keys.
pub struct Secrets<'a> {
    pub env_id: &'a str,
    pub signing_secret: &'a str,
    pub secret_key: &'a str,
}

const CANONICAL_HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;
const HEADERS: &[&str] = &[
    r#"{"alg":"HS256"}"#,
    r#"{"alg":"none","typ":"JWT"}"#,
    r#"{"alg":"None"}"#,
    r#"{"alg":"HS512","typ":"JWT"}"#,
    r#"{"alg":"RS256","typ":"JWT"}"#,
    r#"{"alg":"hs256","typ":"JWT"}"#,
    r#"{"alg":"","typ":"JWT"}"#,
    r#"{"typ":"JWT"}"#,
    r#"{"alg":"HS256","crit":["exp"]}"#,
    r#"{"alg":"HS256","kid":"../../etc/passwd","jku":"http://127.0.0.1:1/"}"#,
    r#"{"alg":"HS256","alg":"none"}"#,
    r#"[]"#,
];

fn header() -> BoxedStrategy<String> {
    prop_oneof![
        8 => Just(CANONICAL_HEADER.to_string()),
        3 => select(HEADERS).prop_map(String::from),
        1 => json_text(),
    ]
    .boxed()
}

fn claim(other: BoxedStrategy<Value>) -> BoxedStrategy<Claim> {
    prop_oneof![8 => Just(Claim::Right), 1 => Just(Claim::Missing), 2 => other.prop_map(Claim::Other)]
        .boxed()
}

/// One of `choices`.
fn values(choices: Vec<Value>) -> BoxedStrategy<Value> {
    select(choices).boxed()
}

fn odd_value() -> BoxedStrategy<Value> {
    prop_oneof![
        text(12).prop_map(Value::String),
        values(vec![
            json!(null),
            json!(5),
            json!(true),
            json!([]),
            json!({}),
            json!("true")
        ]),
    ]
    .boxed()
}

/// A time claim: mostly well in the past or future, sometimes near now, at the edges of every
/// integer type, fractional, or not a number.
fn time(usual: i64) -> BoxedStrategy<Time> {
    let raw = values(vec![
        json!(i64::MAX),
        json!(u64::MAX),
        json!(i64::MIN),
        json!(-1),
        json!(0),
        json!(1e300),
        json!(1.5e9),
        json!("4102444800"),
        json!(null),
    ]);
    prop_oneof![
        6 => Just(Time::FromNow(usual)),
        1 => Just(Time::Missing),
        2 => (-100_000i64..100_000).prop_map(Time::FromNow),
        1 => raw.prop_map(Time::Raw),
    ]
    .boxed()
}

fn key() -> BoxedStrategy<Key> {
    prop_oneof![
        6 => Just(Key::Signing),
        3 => Just(Key::SecretKey),
        1 => text(30).prop_map(Key::Wrong),
        1 => Just(Key::Wrong(String::new())),
    ]
    .boxed()
}

fn mangle() -> BoxedStrategy<Mangle> {
    prop_oneof![
        16 => Just(Mangle::None),
        1 => any::<Index>().prop_map(Mangle::FlipSignature),
        1 => Just(Mangle::DropSignature),
        1 => Just(Mangle::ExtraSegment),
        1 => Just(Mangle::Padding),
        1 => Just(Mangle::StandardAlphabet),
        1 => (any::<Index>(), crate::gen::tricky_char()).prop_map(|(i, c)| Mangle::Insert(i, c)),
        1 => any::<Index>().prop_map(Mangle::Truncate),
        1 => text(60).prop_map(Mangle::Replace),
    ]
    .boxed()
}

/// Token specs: mostly valid, each part sometimes wrong.
pub fn spec() -> BoxedStrategy<TokenSpec> {
    let scopes = prop_oneof![
        2 => odd_value(),
        1 => (0usize..3_000).prop_map(|n| json!(vec!["read:runs"; n])),
    ]
    .boxed();
    let claims = (
        claim(prop_oneof![text(20).prop_map(Value::String), odd_value()].boxed()),
        claim(odd_value()),
        time(3_600),
        prop_oneof![4 => Just(Time::Missing), 1 => time(-600)],
        claim(values(vec![
            json!("https://evil.example"),
            json!([AUDIENCE, "x"]),
            json!(["x"]),
            json!(5),
        ])),
        claim(scopes),
    );
    let rest = (
        header(),
        claim(values(vec![
            json!("put"),
            json!("PUT"),
            json!(""),
            json!(1),
        ])),
        "[a-z0-9/._-]{0,40}",
        key(),
        mangle(),
    );
    (claims, rest)
        .prop_map(
            |((sub, public, exp, nbf, aud, scopes), (header, op, path, key, mangle))| TokenSpec {
                header,
                sub,
                public,
                exp,
                nbf,
                aud,
                scopes,
                op,
                path,
                key,
                mangle,
            },
        )
        .boxed()
}

impl TokenSpec {
    /// The claims of a public access token for `env_id` at `now` (seconds).
    pub fn public_claims(&self, env_id: &str, now: i64) -> Map<String, Value> {
        let mut claims = Map::new();
        set(&mut claims, "sub", &self.sub, json!(env_id));
        set(&mut claims, "pub", &self.public, json!(true));
        set(&mut claims, "aud", &self.aud, json!(AUDIENCE));
        set(&mut claims, "scopes", &self.scopes, json!(["read:runs"]));
        set_time(&mut claims, "exp", &self.exp, now);
        set_time(&mut claims, "nbf", &self.nbf, now);
        claims
    }

    /// The claims of a presigned packet URL for `env_id` and `op` at `now` (seconds).
    pub fn blob_claims(&self, env_id: &str, op: &str, now: i64) -> Map<String, Value> {
        let mut claims = Map::new();
        set(&mut claims, "sub", &self.sub, json!(env_id));
        set(&mut claims, "op", &self.op, json!(op));
        claims.insert("path".into(), json!(self.path));
        set_time(&mut claims, "exp", &self.exp, now);
        set_time(&mut claims, "nbf", &self.nbf, now);
        claims
    }

    /// The finished token with `claims`, signed and mangled.
    pub fn token(&self, claims: &Map<String, Value>, secrets: &Secrets<'_>) -> String {
        let key = match &self.key {
            Key::Signing => secrets.signing_secret,
            Key::SecretKey => secrets.secret_key,
            Key::Wrong(k) => k.as_str(),
        };
        let token = sign(
            &self.header,
            &Value::Object(claims.clone()).to_string(),
            key.as_bytes(),
        );
        mangled(token, &self.mangle)
    }

    /// Whether the server must accept this public access token, signed with one of `keys`.
    pub fn must_pass_public(&self, keys: &[Key]) -> bool {
        matches!(self.aud, Claim::Right | Claim::Missing)
            && self.well_formed(&[&self.sub, &self.public, &self.scopes], keys)
    }

    /// Whether the server must accept this presigned URL token, signed with one of `keys`.
    pub fn must_pass_blob(&self, keys: &[Key]) -> bool {
        self.well_formed(&[&self.sub, &self.op], keys)
    }

    /// A canonical header, the `required` claims right, times so far from their limits that
    /// clock drift does not matter, signed with one of `keys`, not mangled.
    fn well_formed(&self, required: &[&Claim], keys: &[Key]) -> bool {
        let expires_later = matches!(self.exp, Time::FromNow(s) if s > 60);
        let valid_already = match self.nbf {
            Time::Missing => true,
            Time::FromNow(s) => s < -60,
            Time::Raw(_) => false,
        };
        self.header == CANONICAL_HEADER
            && required.iter().all(|c| **c == Claim::Right)
            && expires_later
            && valid_already
            && keys.contains(&self.key)
            && matches!(self.mangle, Mangle::None)
    }
}

fn set(claims: &mut Map<String, Value>, name: &str, claim: &Claim, right: Value) {
    match claim {
        Claim::Right => {
            claims.insert(name.into(), right);
        }
        Claim::Missing => {}
        Claim::Other(v) => {
            claims.insert(name.into(), v.clone());
        }
    }
}

fn set_time(claims: &mut Map<String, Value>, name: &str, t: &Time, now: i64) {
    match t {
        Time::Missing => {}
        Time::FromNow(s) => {
            claims.insert(name.into(), json!(now.saturating_add(*s)));
        }
        Time::Raw(v) => {
            claims.insert(name.into(), v.clone());
        }
    }
}

fn mangled(token: String, how: &Mangle) -> String {
    let signature_at = token.rfind('.').map_or(0, |i| i + 1);
    match how {
        Mangle::None => token,
        Mangle::FlipSignature(i) if signature_at < token.len() => {
            let mut bytes = token.into_bytes();
            let at = signature_at + i.index(bytes.len() - signature_at);
            bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
            String::from_utf8(bytes).unwrap_or_default()
        }
        Mangle::FlipSignature(_) => token,
        Mangle::DropSignature => token[..signature_at].to_string(),
        Mangle::ExtraSegment => format!("{token}.e30"),
        Mangle::Padding => format!("{token}=="),
        Mangle::StandardAlphabet => token.replace('-', "+").replace('_', "/"),
        Mangle::Insert(i, c) => {
            let mut chars: Vec<char> = token.chars().collect();
            chars.insert(i.index(chars.len() + 1), *c);
            chars.into_iter().collect()
        }
        Mangle::Truncate(i) => token.chars().take(i.index(token.len() + 1)).collect(),
        Mangle::Replace(text) => text.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_and_hmac_match_their_specifications() {
        // RFC 4648 §10 vectors, without padding.
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
        ] {
            assert_eq!(b64url(plain.as_bytes()), encoded);
            assert_eq!(b64url_decode(encoded).as_deref(), Some(plain.as_bytes()));
        }
        assert_eq!(b64url(&[0xfb, 0xff]), "-_8");
        assert_eq!(b64url_decode("Zh"), None, "unused bits set");
        assert_eq!(b64url_decode("Zg=="), None, "padding");
        assert_eq!(b64url_decode("Z"), None, "impossible length");
        // RFC 4231 test case 2.
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            mac.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn a_signed_token_checks_out_only_with_its_key() {
        let token = sign(CANONICAL_HEADER, r#"{"sub":"env"}"#, b"secret");
        assert!(signed_by(&token, &["other", "secret"]));
        assert!(!signed_by(&token, &["other"]));
        assert_eq!(part_json(&token, 1), Some(json!({"sub": "env"})));
    }
}
