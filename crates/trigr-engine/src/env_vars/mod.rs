//! `env_vars`: an environment's variables — named string values a task reads through its
//! context (`ctx.env_var`), managed with Trigger.dev's `envvars` routes.
//!
//! * **Addressing.** The routes name a project reference and an environment slug; a secret
//!   key may address only its own project and environment ([`Target`], checked before any
//!   variable is read or written).
//! * **Checked input.** The route checks what a client sent with [`check_name`] and
//!   [`check_value`] (and [`check_import`] for many at once); the commands take only checked
//!   values. An environment holds at most [`MAX_VARS`].
//! * **Sealed at rest.** Values are encrypted with the server's key ([`Cipher`]) bound to their
//!   environment and name; the store never holds a plain value. A value sealed with another
//!   key is an error naming the variable, never garbage.
//! * **Secret** variables have their value redacted ([`REDACTED`]) in list and retrieve
//!   answers; tasks read every value ([`Engine::env_var_values`]).
//!
//! [`Engine::env_var_values`]: crate::Engine::env_var_values

mod cipher;
mod delete;
mod read;
mod target;
mod write;

pub use cipher::{Cipher, KeySource, KEY_FILE};
pub use target::Target;
pub use write::{Import, Written};

use crate::{Error, Result};

/// The longest name, in bytes.
pub const MAX_NAME_BYTES: usize = 256;
/// The largest value, in bytes.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;
/// The most variables an environment holds (and so one import names).
pub const MAX_VARS: usize = 500;
/// What list and retrieve answers show instead of a secret variable's value.
pub const REDACTED: &str = "<redacted>";
/// Names with this prefix are the platform's own.
pub const RESERVED_PREFIX: &str = "TRIGGER_";

/// A variable as a client sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Variable {
    pub name: String,
    /// The plain value, or [`REDACTED`] for a secret one in list and retrieve answers.
    pub value: String,
    pub is_secret: bool,
}

/// A variable name a client sent: 1 to [`MAX_NAME_BYTES`] ASCII letters, digits and `_`, not
/// starting with a digit, not starting with [`RESERVED_PREFIX`].
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::invalid("the variable name must not be empty"));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(Error::invalid(format!(
            "the variable name is {} bytes long; the limit is {MAX_NAME_BYTES}",
            name.len()
        )));
    }
    let fine = |c: char| c.is_ascii_alphanumeric() || c == '_';
    if !name.chars().all(fine) || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(Error::invalid(format!(
            "the variable name '{}' must be letters, digits and '_', not starting with a digit",
            name.escape_debug()
        )));
    }
    if name.starts_with(RESERVED_PREFIX) {
        return Err(Error::invalid(format!(
            "the variable name '{name}' is reserved: names starting with {RESERVED_PREFIX} are the platform's"
        )));
    }
    Ok(())
}

/// A value a client sent for `name`: at most [`MAX_VALUE_BYTES`] (413 beyond), no NUL byte.
pub fn check_value(name: &str, value: &str) -> Result<()> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(Error::TooLarge(format!(
            "the value of '{name}' is {} bytes; the limit is {MAX_VALUE_BYTES}",
            value.len()
        )));
    }
    if value.contains('\0') {
        return Err(Error::invalid(format!(
            "the value of '{name}' must not contain NUL bytes"
        )));
    }
    Ok(())
}

/// The variables of one import: 1 to [`MAX_VARS`], each name and value checked.
pub fn check_import(variables: &[(String, String)]) -> Result<()> {
    if variables.is_empty() {
        return Err(Error::invalid("variables must name at least one variable"));
    }
    if variables.len() > MAX_VARS {
        return Err(Error::TooLarge(format!(
            "the import names {} variables; an environment holds at most {MAX_VARS}",
            variables.len()
        )));
    }
    for (name, value) in variables {
        check_name(name)?;
        check_value(name, value)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_like_shell_variables() {
        for good in ["A", "_x", "API_KEY_2", &"N".repeat(MAX_NAME_BYTES)] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        let long = "N".repeat(MAX_NAME_BYTES + 1);
        for bad in [
            "",
            "1A",
            "A-B",
            "A B",
            "a\0",
            "É",
            "TRIGGER_SECRET_KEY",
            &long,
        ] {
            assert!(matches!(check_name(bad), Err(Error::Invalid(_))), "{bad:?}");
        }
    }

    #[test]
    fn values_and_imports_are_bounded() {
        assert!(check_value("A", &"x".repeat(MAX_VALUE_BYTES)).is_ok());
        let big = "x".repeat(MAX_VALUE_BYTES + 1);
        assert!(matches!(check_value("A", &big), Err(Error::TooLarge(_))));
        assert!(matches!(check_value("A", "a\0b"), Err(Error::Invalid(_))));
        assert!(matches!(check_import(&[]), Err(Error::Invalid(_))));
        let many: Vec<_> = (0..=MAX_VARS)
            .map(|i| (format!("V{i}"), String::new()))
            .collect();
        assert!(matches!(check_import(&many), Err(Error::TooLarge(_))));
        assert!(check_import(&many[..MAX_VARS]).is_ok());
    }
}
