//! Columns that keep any string, for the caller's own text (a run's payload): PostgreSQL's
//! `text` refuses a NUL.
//!
//! A string with a NUL, or one that starts with [`MARK`] (so that the encoding stays one to
//! one), is stored as [`MARK`] followed by the string with each NUL written `MARK 0` and each
//! [`MARK`] written `MARK 1`. Every other string is stored as it is: writing one costs a scan
//! for a NUL, reading one a look at its first character.

use std::borrow::Cow;

/// U+0001: starts every encoded string, and escapes inside one.
const MARK: char = '\u{1}';

/// The form in which `s` is stored.
pub(crate) fn encode(s: &str) -> Cow<'_, str> {
    if !s.starts_with(MARK) && !s.as_bytes().contains(&0) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    out.push(MARK);
    for c in s.chars() {
        match c {
            '\0' => out.extend([MARK, '0']),
            MARK => out.extend([MARK, '1']),
            other => out.push(other),
        }
    }
    Cow::Owned(out)
}

/// The string `stored` was encoded from. A mark followed by anything but `0` or `1` (which
/// [`encode`] never writes) is kept as it is.
pub(crate) fn decode(stored: String) -> String {
    let Some(body) = stored.strip_prefix(MARK) else {
        return stored;
    };
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        let escaped = match (c, chars.peek()) {
            (MARK, Some('0')) => '\0',
            (MARK, Some('1')) => MARK,
            _ => {
                out.push(c);
                continue;
            }
        };
        chars.next();
        out.push(escaped);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_stored_as_it_is() {
        for s in ["", "hello", "{\"a\":\"\\u0000\"}", "a\u{1}b"] {
            assert!(matches!(encode(s), Cow::Borrowed(b) if b == s), "{s:?}");
            assert_eq!(decode(s.to_string()), s);
        }
    }

    #[test]
    fn nul_and_leading_mark_round_trip_without_nul() {
        for s in ["\0", "a\0b\0", "\u{1}", "\u{1}0", "\u{1}\0\u{1}1x", "é\0ü"] {
            let stored = encode(s).into_owned();
            assert!(!stored.contains('\0'), "{s:?} stored as {stored:?}");
            assert_eq!(decode(stored), s);
        }
    }
}
