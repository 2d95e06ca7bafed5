//! NDJSON batch items (`POST /api/v3/batches/{id}/items`), read by the server's
//! `NdjsonLines` as the body arrives: long lines, NULs, invalid UTF-8, CRLF, blank lines, data
//! after a value, more items than a batch may have, all cut into chunks anywhere. The outcome
//! must not depend on where the chunks are cut, and what is accepted keeps every limit.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use trigr_engine::batch::MAX_ITEMS;
use trigr_server::error::ApiError;
use trigr_server::parsers::{ItemLimits, NdjsonLines};

use crate::gen::{bytes, json, text};
use crate::report::Report;
use crate::runner::{ensure, fuzz, Settings, Verdict};
use crate::targets::client_error;

/// A body, the limits it is read within and the chunk sizes it arrives in.
#[derive(Clone, Debug)]
pub struct NdjsonCase {
    body: Vec<u8>,
    line_limit: usize,
    total_limit: usize,
    chunks: Vec<usize>,
}

fn item_line() -> BoxedStrategy<Vec<u8>> {
    let item = (any::<i64>(), "[a-z]{1,6}", json(2)).prop_map(|(index, task, payload)| {
        serde_json::json!({"index": index, "task": task, "payload": payload}).to_string()
    });
    prop_oneof![
        6 => item.clone().prop_map(String::into_bytes),
        1 => select(&["", " ", "\t", "\r", "  \r"][..]).prop_map(|s| s.as_bytes().to_vec()),
        1 => (item.clone(), item).prop_map(|(a, b)| format!("{a}{b}").into_bytes()),
        1 => Just(br#"{"index":1,"task":"t\u0000"}"#.to_vec()),
        1 => Just(b"{\"index\":1,\"task\":\"t\0\"}".to_vec()),
        1 => Just(br#"[{"index":1,"task":"t"}]"#.to_vec()),
        1 => (0usize..3_000).prop_map(|n| format!(r#"{{"index":1,"task":"t","payload":"{}"}}"#, "x".repeat(n)).into_bytes()),
        1 => text(30).prop_map(String::into_bytes),
        1 => bytes(30),
    ]
    .boxed()
}

fn case() -> BoxedStrategy<NdjsonCase> {
    let lines = prop_oneof![
        8 => vec(item_line(), 0..12),
        1 => (MAX_ITEMS as usize - 2..MAX_ITEMS as usize + 3)
            .prop_map(|n| vec![br#"{"index":1,"task":"t"}"#.to_vec(); n]),
    ];
    let body = (lines, select(&["\n", "\n", "\r\n"][..]), any::<bool>()).prop_map(
        |(lines, end, trailing)| {
            let mut body = lines.join(end.as_bytes());
            if trailing {
                body.extend_from_slice(end.as_bytes());
            }
            body
        },
    );
    (
        body,
        16usize..2_048,
        64usize..100_000,
        vec(1usize..64, 1..8),
    )
        .prop_map(|(body, line_limit, total_limit, chunks)| NdjsonCase {
            body,
            line_limit,
            total_limit,
            chunks,
        })
        .boxed()
}

/// The items (as `Debug` text) read from `body` arriving in chunks of `sizes` (cycled).
fn read(body: &[u8], sizes: &[usize], limits: &ItemLimits) -> Result<Vec<String>, ApiError> {
    let mut lines = NdjsonLines::new(limits);
    let mut items = Vec::new();
    let mut rest = body;
    for size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (chunk, tail) = rest.split_at((*size).clamp(1, rest.len()));
        items.extend(lines.push(chunk)?);
        rest = tail;
    }
    items.extend(lines.finish()?);
    Ok(items.iter().map(|it| format!("{it:?}")).collect())
}

/// Reading a body: the same items whatever the chunks, within the limits, 4xx refusals.
pub fn items(name: &'static str, settings: &Settings) -> Report {
    fuzz(name, settings, case(), |c| {
        let limits = ItemLimits {
            line: c.line_limit,
            total: c.total_limit,
        };
        let whole = read(&c.body, &[usize::MAX], &limits);
        let mut splits = vec![read(&c.body, &c.chunks, &limits)];
        if c.body.len() <= 4_096 {
            splits.push(read(&c.body, &[1], &limits));
        }
        for split in &splits {
            ensure(same(&whole, split), "depends on chunking", || {
                format!(
                    "whole: {}; in chunks {:?}: {}",
                    outcome(&whole),
                    c.chunks,
                    outcome(split)
                )
            })?;
        }
        match &whole {
            Ok(items) => within_limits(c, items.len()),
            Err(e) => client_error(e, c),
        }
    })
}

fn same(a: &Result<Vec<String>, ApiError>, b: &Result<Vec<String>, ApiError>) -> bool {
    match (a, b) {
        (Ok(x), Ok(y)) => x == y,
        (Err(_), Err(_)) => true,
        _ => false,
    }
}

fn outcome(r: &Result<Vec<String>, ApiError>) -> String {
    match r {
        Ok(items) => format!("{} items", items.len()),
        Err(e) => format!("{} {}", e.status, e.message),
    }
}

/// An accepted body: one item per non-blank line, at most [`MAX_ITEMS`], every line and the
/// body within their limits.
fn within_limits(c: &NdjsonCase, items: usize) -> Verdict {
    let lines: Vec<&[u8]> = c.body.split(|b| *b == b'\n').collect();
    let non_blank = lines
        .iter()
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .count();
    ensure(items == non_blank, "lost or extra items", || {
        format!("{items} items from {non_blank} non-blank lines")
    })?;
    let longest = lines.iter().map(|l| l.len()).max().unwrap_or(0);
    ensure(
        items <= MAX_ITEMS as usize && longest <= c.line_limit && c.body.len() <= c.total_limit,
        "over a limit",
        || {
            format!(
                "{items} items, longest line {longest} (limit {}), body {} (limit {})",
                c.line_limit,
                c.body.len(),
                c.total_limit
            )
        },
    )
}
