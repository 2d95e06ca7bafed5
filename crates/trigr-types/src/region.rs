//! Regions (worker groups): every run belongs to one, and a worker takes only the runs of the
//! region it serves. A region is a name; a run that names none is in its environment's default
//! region, and that is [`DEFAULT`] unless the environment sets another.

/// The region of runs and workers that name none, unless their environment sets another.
pub const DEFAULT: &str = "default";

/// The longest region name, in bytes.
pub const MAX_LEN: usize = 64;

/// Checks a region name: 1 to [`MAX_LEN`] ASCII letters, digits, `-`, `_` or `.`, starting
/// with a letter or a digit (`us-east-1`, `eu_central`, `gpu.a100`). The error says what is
/// wrong, for a message that begins with the name of the field.
pub fn check(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_LEN {
        return Err(format!("must be 1-{MAX_LEN} characters"));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if !name.chars().all(allowed) {
        return Err("may hold only ASCII letters, digits, '-', '_' and '.'".to_string());
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err("must start with a letter or a digit".to_string());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_simple_names() {
        for name in [
            DEFAULT,
            "us-east-1",
            "eu_central",
            "gpu.a100",
            "A",
            &"r".repeat(64),
        ] {
            assert_eq!(check(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn refuses_the_rest() {
        for name in [
            "",
            &"r".repeat(65),
            "eu central",
            "eu\0",
            "-eu",
            ".eu",
            "eu/1",
            "région",
        ] {
            assert!(check(name).is_err(), "{name:?}");
        }
    }
}
