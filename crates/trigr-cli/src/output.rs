//! Writing command output and small text helpers.

use std::io::Write;

use serde_json::Value;
use trigr_types::wire::Timestamp;

/// Writes `text` to standard output. A closed pipe (`trigr runs list | head`) is not an error.
pub fn print(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::anyhow!("The output could not be written: {e}."))
        }
        _ => Ok(()),
    }
}

/// Pretty JSON followed by a newline (for `--json`).
pub fn json(value: &Value) -> String {
    let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string());
    format!("{text}\n")
}

/// A value as one line of text: strings as they are, other values as compact JSON,
/// `None` for null or absent values and empty strings.
pub fn plain(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// An RFC 3339 time without its fractional seconds: `2026-01-02T03:04:05.678Z` →
/// `2026-01-02T03:04:05Z`. Other text is returned unchanged.
pub fn short_time(time: &str) -> String {
    let Some(dot) = time.find('.') else {
        return time.to_string();
    };
    let digits = time[dot + 1..]
        .bytes()
        .take_while(u8::is_ascii_digit)
        .count();
    if dot != 19 || digits == 0 {
        return time.to_string();
    }
    format!("{}{}", &time[..dot], &time[dot + 1 + digits..])
}

/// A time of an answer without its fractional seconds, like [`short_time`].
pub fn short_timestamp(time: Timestamp) -> String {
    short_time(&time.to_string())
}

/// Quotes a command-line argument for a POSIX shell when it needs quoting.
pub fn shell_word(word: &str) -> String {
    let safe = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./,:=@%+".contains(c));
    if safe {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn plain_values() {
        assert_eq!(plain(&json!("x")).as_deref(), Some("x"));
        assert_eq!(plain(&json!(3)).as_deref(), Some("3"));
        assert_eq!(plain(&json!({"a": [1]})).as_deref(), Some(r#"{"a":[1]}"#));
        assert_eq!(plain(&json!(null)), None);
        assert_eq!(plain(&json!("")), None);
    }

    #[test]
    fn short_times() {
        assert_eq!(
            short_time("2026-01-02T03:04:05.678Z"),
            "2026-01-02T03:04:05Z"
        );
        assert_eq!(
            short_time("2026-01-02T03:04:05.6+01:00"),
            "2026-01-02T03:04:05+01:00"
        );
        assert_eq!(short_time("2026-01-02T03:04:05Z"), "2026-01-02T03:04:05Z");
        assert_eq!(short_time("v1.2"), "v1.2");
    }

    #[test]
    fn shell_words() {
        assert_eq!(shell_word("run_abc"), "run_abc");
        assert_eq!(shell_word("a b"), "'a b'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
    }
}
