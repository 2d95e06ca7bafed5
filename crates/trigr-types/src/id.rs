//! Friendly ids and secret keys.

use rand::Rng;
use sha2::{Digest, Sha256};

const ID_ALPHABET: &[u8] = b"123456789abcdefghijkmnopqrstuvwxyz";
const KEY_ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

fn random_string(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| alphabet[rng.gen_range(0..alphabet.len())] as char)
        .collect()
}

/// A new friendly id: `<prefix>_` and 21 characters, as the official SDK mints them.
pub fn new(prefix: &str) -> String {
    format!("{prefix}_{}", random_string(ID_ALPHABET, 21))
}

/// A new secret key for an environment: `tr_<env>_` and 24 alphanumerics.
pub fn new_secret_key(env_prefix: &str) -> String {
    format!("tr_{env_prefix}_{}", random_string(KEY_ALPHABET, 24))
}

/// The start of a secret key that is safe to show and tells keys apart: `tr_dev_` and the
/// first four characters after it.
pub fn key_prefix(key: &str) -> String {
    let head = key.match_indices('_').nth(1).map_or(0, |(i, _)| i + 1);
    key.chars().take(key[..head].chars().count() + 4).collect()
}

/// Whether `key` has the shape of a secret key of the environment with that prefix.
pub fn is_secret_key(key: &str, env_prefix: &str) -> bool {
    let Some(rest) = key.strip_prefix(&format!("tr_{env_prefix}_")) else {
        return false;
    };
    rest.len() == 24 && rest.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Hex SHA-256: how keys are stored and how the SDK hashes idempotency keys.
pub fn sha256_hex(input: &str) -> String {
    hex::encode(Sha256::digest(input.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_prefixes() {
        assert_eq!(key_prefix("tr_dev_AbCdEfGh"), "tr_dev_AbCd");
        assert_eq!(key_prefix("tr_prod_xy"), "tr_prod_xy");
        assert_eq!(key_prefix("nokey"), "noke");
    }

    #[test]
    fn shapes() {
        let id = new("run");
        assert!(id.starts_with("run_") && id.len() == 25);
        let key = new_secret_key("dev");
        assert!(is_secret_key(&key, "dev"));
        assert!(!is_secret_key(&key, "prod"));
        assert!(!is_secret_key("tr_dev_short", "dev"));
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
