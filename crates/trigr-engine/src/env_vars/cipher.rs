//! [`Cipher`]: how variable values are sealed at rest — AES-256-GCM with a random 96-bit
//! nonce per value, and associated data naming the environment and the variable, so a sealed
//! value copied to another environment or name fails to open instead of reading as another
//! variable's value.
//!
//! A sealed value is the text `v1:` followed by the hex of the nonce and the ciphertext (with
//! its tag). Opening one with another key fails with [`Error::Conflict`] naming the variable
//! and the likely cause; it never yields garbage.

use std::io::Write;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use rand::RngCore;

use crate::{Error, Result};

/// The prefix of a sealed value: the format's version.
const VERSION: &str = "v1:";
/// Bytes of a nonce.
const NONCE_BYTES: usize = 12;
/// The name of the key file in the data directory.
pub const KEY_FILE: &str = "encryption.key";

/// The key that seals and opens variable values.
#[derive(Clone)]
pub struct Cipher {
    aead: Aes256Gcm,
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cipher(..)")
    }
}

/// Where a server's key came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// `--encryption-key` / `TRIGR_ENCRYPTION_KEY`.
    Given,
    /// The key file of the data directory, read.
    File,
    /// The key file of the data directory, made now.
    NewFile,
}

impl Cipher {
    /// A cipher from 32 bytes written as 64 hex digits or as base64 (standard or URL-safe,
    /// padded or not).
    pub fn parse(text: &str) -> Result<Cipher> {
        let text = text.trim();
        let bytes = hex::decode(text)
            .ok()
            .or_else(|| base64::engine::general_purpose::STANDARD.decode(text).ok())
            .or_else(|| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(text)
                    .ok()
            })
            .or_else(|| {
                base64::engine::general_purpose::STANDARD_NO_PAD
                    .decode(text)
                    .ok()
            });
        match bytes {
            Some(b) if b.len() == 32 => Ok(Cipher::from_bytes(&b)),
            Some(b) => Err(Error::invalid(format!(
                "the encryption key is {} bytes; it must be 32 (64 hex digits or 44 base64 characters)",
                b.len()
            ))),
            None => Err(Error::invalid(
                "the encryption key must be 32 bytes written as 64 hex digits or in base64",
            )),
        }
    }

    fn from_bytes(key: &[u8]) -> Cipher {
        Cipher {
            aead: Aes256Gcm::new_from_slice(key).expect("a 32-byte key"),
        }
    }

    /// The cipher of a server: the given key, else the key file of `data_dir` (made once, with
    /// mode 0600, from 32 random bytes).
    pub fn resolve(given: Option<&str>, data_dir: &Path) -> Result<(Cipher, KeySource)> {
        if let Some(text) = given {
            return Ok((Cipher::parse(text)?, KeySource::Given));
        }
        let path = data_dir.join(KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Cipher::parse(&text)
                .map(|c| (c, KeySource::File))
                .map_err(|e| Error::invalid(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                create_key_file(&path).map(|c| (c, KeySource::NewFile))
            }
            Err(e) => Err(Error::invalid(format!(
                "cannot read the encryption key file {}: {e}",
                path.display()
            ))),
        }
    }

    /// Seals `value` of variable `name` in environment `env_id`.
    pub fn seal(&self, env_id: &str, name: &str, value: &str) -> String {
        let mut nonce = [0u8; NONCE_BYTES];
        rand::thread_rng().fill_bytes(&mut nonce);
        let aad = associated_data(env_id, name);
        let sealed = self
            .aead
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: value.as_bytes(),
                    aad: &aad,
                },
            )
            .expect("AES-GCM encrypts any value under 64 GiB");
        format!("{VERSION}{}{}", hex::encode(nonce), hex::encode(sealed))
    }

    /// Opens what [`Cipher::seal`] made for the same environment and name.
    pub fn open(&self, env_id: &str, name: &str, sealed: &str) -> Result<String> {
        let unreadable = || {
            Error::Conflict(format!(
                "environment variable '{name}' cannot be decrypted: it was encrypted with another \
                 key than this server's (check --encryption-key / TRIGR_ENCRYPTION_KEY and the \
                 data directory's {KEY_FILE}; every server of one database needs the same key)"
            ))
        };
        let bytes = sealed
            .strip_prefix(VERSION)
            .and_then(|h| hex::decode(h).ok())
            .filter(|b| b.len() > NONCE_BYTES)
            .ok_or_else(unreadable)?;
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        let aad = associated_data(env_id, name);
        let plain = self
            .aead
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| unreadable())?;
        String::from_utf8(plain).map_err(|_| unreadable())
    }
}

/// The associated data of a value: its environment and name, length-prefixed so no two
/// pairs give the same bytes.
fn associated_data(env_id: &str, name: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(env_id.len() + name.len() + 16);
    aad.extend_from_slice(&(env_id.len() as u64).to_be_bytes());
    aad.extend_from_slice(env_id.as_bytes());
    aad.extend_from_slice(name.as_bytes());
    aad
}

/// Makes the key file with 32 random bytes in hex, readable by its owner only; a file made
/// meanwhile by another process is read instead.
fn create_key_file(path: &Path) -> Result<Cipher> {
    let mut key = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut key);
    let fail = |e: std::io::Error| {
        Error::invalid(format!(
            "cannot create the encryption key file {}: {e}",
            path.display()
        ))
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(hex::encode(key).as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(fail)?;
            Ok(Cipher::from_bytes(&key))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = std::fs::read_to_string(path).map_err(fail)?;
            Cipher::parse(&text)
        }
        Err(e) => Err(fail(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_where_they_were_sealed() {
        let c = Cipher::parse(&"11".repeat(32)).unwrap();
        let sealed = c.seal("env_a", "API_KEY", "s3cret");
        assert!(!sealed.contains("s3cret"));
        assert_ne!(sealed, c.seal("env_a", "API_KEY", "s3cret"), "random nonce");
        assert_eq!(c.open("env_a", "API_KEY", &sealed).unwrap(), "s3cret");
        for (env, name) in [("env_b", "API_KEY"), ("env_a", "OTHER")] {
            assert!(matches!(
                c.open(env, name, &sealed),
                Err(Error::Conflict(_))
            ));
        }
        let other = Cipher::parse(&"22".repeat(32)).unwrap();
        assert!(matches!(
            other.open("env_a", "API_KEY", &sealed),
            Err(Error::Conflict(_))
        ));
        assert!(c.open("env_a", "API_KEY", "v1:zz").is_err());
    }

    #[test]
    fn keys_in_hex_or_base64_of_32_bytes() {
        let b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        assert!(Cipher::parse(&b64).is_ok());
        assert!(Cipher::parse(&"ab".repeat(32)).is_ok());
        for bad in ["", "abcd", &"ab".repeat(31), "not a key"] {
            assert!(
                matches!(Cipher::parse(bad), Err(Error::Invalid(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_key_file_is_made_once_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let (first, source) = Cipher::resolve(None, dir.path()).unwrap();
        assert_eq!(source, KeySource::NewFile);
        let sealed = first.seal("e", "N", "v");
        let (again, source) = Cipher::resolve(None, dir.path()).unwrap();
        assert_eq!(source, KeySource::File);
        assert_eq!(again.open("e", "N", &sealed).unwrap(), "v");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
