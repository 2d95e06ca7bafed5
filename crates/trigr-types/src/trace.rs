//! W3C trace context: trace ids (16 bytes), span ids (8 bytes), both as lowercase hex, and
//! the `traceparent` header (`00-<trace id>-<parent span id>-<flags>`).
//!
//! Every run has a trace id and a root span id. A run that begins its own trace takes both
//! from its run id ([`run_ids`]), so nothing is minted or stored for it; a caller's
//! `traceparent` or a parent run makes the run join that trace instead, and only then is the
//! trace id stored. A header that does not parse is ignored, as the W3C Trace Context
//! recommendation says, never refused.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// A new span id: 16 lowercase hex digits, never all zeros.
pub fn new_span_id() -> String {
    random_hex::<8>()
}

/// The trace id and root span id of run `run_id`, as the run has them when it began its own
/// trace: the first 16 and the next 8 bytes of SHA-256(`run_id`), as lowercase hex. Stable
/// across servers and versions, so any server names the same trace for the run.
pub fn run_ids(run_id: &str) -> (String, String) {
    let digest = Sha256::digest(run_id.as_bytes());
    let (mut trace, mut span) = ([0u8; 16], [0u8; 8]);
    trace.copy_from_slice(&digest[..16]);
    span.copy_from_slice(&digest[16..24]);
    // All zeros is not a valid id; a digest of that shape is as good as impossible, but the
    // answer must be valid all the same.
    for id in [&mut trace[..], &mut span[..]] {
        if id.iter().all(|b| *b == 0) {
            id[id.len() - 1] = 1;
        }
    }
    (hex::encode(trace), hex::encode(span))
}

fn random_hex<const N: usize>() -> String {
    let mut bytes = [0u8; N];
    let mut rng = rand::thread_rng();
    loop {
        rng.fill_bytes(&mut bytes);
        if bytes.iter().any(|b| *b != 0) {
            return hex::encode(bytes);
        }
    }
}

/// Whether `s` is a valid trace id: 32 lowercase hex digits, not all zeros.
pub fn is_trace_id(s: &str) -> bool {
    is_id(s, 32)
}

/// Whether `s` is a valid span id: 16 lowercase hex digits, not all zeros.
pub fn is_span_id(s: &str) -> bool {
    is_id(s, 16)
}

fn is_id(s: &str, len: usize) -> bool {
    s.len() == len && is_lower_hex(s) && s.bytes().any(|b| b != b'0')
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The caller's place in its trace, from a `traceparent` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceParent {
    /// The caller's trace id, which the run's trace joins.
    pub trace_id: String,
    /// The caller's span, the parent of the run's root span.
    pub span_id: String,
}

impl TraceParent {
    /// Reads a `traceparent` header value; `None` for anything the W3C recommendation says to
    /// ignore: a wrong length or character, version `ff`, an all-zero trace or span id, or a
    /// version-00 header with more after the flags. Later versions may carry more fields after
    /// a `-`, which are skipped.
    pub fn parse(header: &str) -> Option<TraceParent> {
        let header = header.trim_matches([' ', '\t']);
        if header.len() < 55 || !header.is_ascii() {
            return None;
        }
        let (version, rest) = header.split_at(2);
        if !is_lower_hex(version) || version == "ff" {
            return None;
        }
        let rest = rest.as_bytes();
        if rest[0] != b'-' || rest[33] != b'-' || rest[50] != b'-' {
            return None;
        }
        let trace_id = &header[3..35];
        let span_id = &header[36..52];
        let flags = &header[53..55];
        let tail = &header[55..];
        let tail_ok = if version == "00" {
            tail.is_empty()
        } else {
            tail.is_empty() || tail.starts_with('-')
        };
        if !is_trace_id(trace_id) || !is_span_id(span_id) || !is_lower_hex(flags) || !tail_ok {
            return None;
        }
        Some(TraceParent {
            trace_id: trace_id.to_string(),
            span_id: span_id.to_string(),
        })
    }

    /// The header value naming this span as the parent (`00-…-…-01`, sampled).
    pub fn header(&self) -> String {
        format!("00-{}-{}-01", self.trace_id, self.span_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn reads_a_valid_header() {
        let p = TraceParent::parse(GOOD).unwrap();
        assert_eq!(p.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(p.span_id, "00f067aa0ba902b7");
        assert_eq!(p.header(), GOOD);
    }

    #[test]
    fn later_versions_may_carry_more() {
        let later = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-comes";
        assert!(TraceParent::parse(later).is_some());
        assert!(TraceParent::parse(&format!("{GOOD}-more")).is_none());
    }

    #[test]
    fn ignores_what_the_recommendation_ignores() {
        for bad in [
            "",
            "garbage",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01é",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_run_s_own_ids_are_valid_and_stable() {
        let (trace, span) = run_ids("run_cm0000000000000000000001");
        assert!(is_trace_id(&trace) && is_span_id(&span));
        assert_eq!(
            run_ids("run_cm0000000000000000000001"),
            (trace.clone(), span)
        );
        assert_ne!(run_ids("run_cm0000000000000000000002").0, trace);
        // SHA-256 of "run_x" fixes the ids for good: a change would orphan stored spans.
        assert_eq!(
            run_ids("run_x"),
            (
                "f4e0af3743f788fdc2b0f1b1c68881d3".to_string(),
                "d1fb07ca881990dc".to_string()
            )
        );
    }

    #[test]
    fn new_ids_are_valid() {
        for _ in 0..100 {
            assert!(is_span_id(&new_span_id()));
        }
    }
}
