//! Where a caller reached this server: the origin (`scheme://host`) of the URLs the server
//! hands out (presigned packet URLs, a token's callback URL).
//!
//! The host is the request's `Host`. The scheme is `http` unless a TLS-terminating reverse
//! proxy in front says `https` with `X-Forwarded-Proto` (or `Forwarded: proto=https`); a
//! caller that sends one without a proxy only changes the URLs it is answered with.

use axum::http::{header, HeaderMap};

/// `http://<host>` or `https://<host>` of the request.
pub(crate) fn origin(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1:3030");
    format!("{}://{host}", scheme(headers))
}

fn scheme(headers: &HeaderMap) -> &'static str {
    let forwarded_proto = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim);
    let forwarded = headers
        .get(header::FORWARDED)
        .and_then(|h| h.to_str().ok())
        .and_then(|v| v.split(',').next())
        .and_then(|first| {
            first
                .split(';')
                .filter_map(|pair| pair.trim().split_once('='))
                .find(|(k, _)| k.eq_ignore_ascii_case("proto"))
                .map(|(_, v)| v.trim_matches('"'))
        });
    match forwarded_proto.or(forwarded) {
        Some(p) if p.eq_ignore_ascii_case("https") => "https",
        _ => "http",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn the_scheme_follows_the_proxy() {
        let host = ("host", "tasks.example.com");
        assert_eq!(origin(&headers(&[host])), "http://tasks.example.com");
        for proxied in [
            &[host, ("x-forwarded-proto", "https")][..],
            &[host, ("x-forwarded-proto", "HTTPS, http")],
            &[host, ("forwarded", "for=1.2.3.4;proto=https;by=x")],
            &[host, ("forwarded", "proto=\"https\", proto=http")],
        ] {
            assert_eq!(origin(&headers(proxied)), "https://tasks.example.com");
        }
        for other in ["http", "ftp", "", "https-ish"] {
            let h = headers(&[host, ("x-forwarded-proto", other)]);
            assert_eq!(origin(&h), "http://tasks.example.com", "{other}");
        }
        assert_eq!(origin(&HeaderMap::new()), "http://127.0.0.1:3030");
    }
}
