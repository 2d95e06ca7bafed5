//! Percent-encoding of path segments and query strings.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Everything except the RFC 3986 unreserved characters `A-Z a-z 0-9 - _ . ~`.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Encodes one path segment or query component (like JavaScript's `encodeURIComponent`).
pub fn component(text: &str) -> String {
    utf8_percent_encode(text, COMPONENT).to_string()
}

/// Encodes a queue name for a path the way the official SDK does: `/` becomes the literal
/// `%2F`, then the segment is encoded, so `a/b` is sent as `a%252Fb`.
pub fn queue_segment(name: &str) -> String {
    component(&name.replace('/', "%2F"))
}

/// A query string built from key/value pairs; keys and values are encoded.
#[derive(Debug, Default, Clone)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Adds `key=value`.
    pub fn push(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.pairs.push((key.to_string(), value.into()));
        self
    }

    /// Adds `key=value` when `value` is given.
    pub fn push_opt(&mut self, key: &str, value: Option<&str>) -> &mut Self {
        if let Some(value) = value {
            self.push(key, value);
        }
        self
    }

    /// Adds `key=a,b,c` when the list is not empty.
    pub fn push_list(&mut self, key: &str, values: &[String]) -> &mut Self {
        if !values.is_empty() {
            self.push(key, values.join(","));
        }
        self
    }

    /// `?k=v&…`, or the empty string when there are no pairs.
    pub fn to_query_string(&self) -> String {
        let parts: Vec<String> = self
            .pairs
            .iter()
            .map(|(k, v)| format!("{}={}", component(k), component(v)))
            .collect();
        if parts.is_empty() {
            String::new()
        } else {
            format!("?{}", parts.join("&"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_encode_like_encode_uri_component() {
        assert_eq!(component("hello"), "hello");
        assert_eq!(component("a/b c:d"), "a%2Fb%20c%3Ad");
        assert_eq!(component("run_1-x.y~z"), "run_1-x.y~z");
        assert_eq!(component("é"), "%C3%A9");
    }

    #[test]
    fn queue_names_are_double_encoded() {
        assert_eq!(queue_segment("a/b"), "a%252Fb");
        assert_eq!(queue_segment("emails"), "emails");
        assert_eq!(queue_segment("a b/c"), "a%20b%252Fc");
    }

    #[test]
    fn query_strings_encode_brackets_and_commas() {
        let mut q = Query::default();
        q.push_list("filter[status]", &["QUEUED".into(), "FAILED".into()])
            .push_list("filter[tag]", &[])
            .push_opt("filter[version]", None)
            .push("page[size]", "25");
        assert_eq!(
            q.to_query_string(),
            "?filter%5Bstatus%5D=QUEUED%2CFAILED&page%5Bsize%5D=25"
        );
        assert_eq!(Query::default().to_query_string(), "");
    }
}
