//! What the server reads from a request before any engine work: run list filters and cursors,
//! offset pages, `Last-Event-ID` and the other stream headers, the `access_token` query
//! parameter, NUL bytes in URLs, and JSON bodies. Refusals are 400s, accepted values keep
//! their bounds, and the same text always means the same value.

use axum::http::{HeaderMap, HeaderName, HeaderValue, Uri};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Map, Value};
use trigr_server::parsers::{self, OffsetPage, MAX_PAGE_NUMBER};
use trigr_types::duration::{self, MAX};
use trigr_types::{Millis, MACHINES};

use crate::gen::{bytes, json, json_text, mutated, number_text, text};
use crate::report::Report;
use crate::runner::{ensure, fuzz, Settings, Verdict};
use crate::targets::client_error;
use crate::targets::cron::server_now;
use crate::targets::duration::{date_text, duration_text};

/// Query pairs with names from `names` (and odd ones) and values from `value`.
fn pairs(
    names: &'static [&'static str],
    value: BoxedStrategy<String>,
    max: usize,
) -> BoxedStrategy<Vec<(String, String)>> {
    let name = prop_oneof![8 => select(names).prop_map(String::from), 1 => text(12)];
    vec((name, value), 0..max).boxed()
}

const RUN_LIST_NAMES: &[&str] = &[
    "filter[status]",
    "filter[taskIdentifier]",
    "filter[version]",
    "filter[tag]",
    "filter[batch]",
    "filter[queue]",
    "filter[machine]",
    "filter[isTest]",
    "filter[createdAt][from]",
    "filter[createdAt][to]",
    "filter[createdAt][period]",
    "page[size]",
    "page[after]",
    "page[before]",
];

fn filter_value() -> BoxedStrategy<String> {
    let statuses = select(&["COMPLETED", "QUEUED", "EXECUTING", "completed", "NOPE", ""][..]);
    prop_oneof![
        2 => number_text(),
        2 => duration_text(),
        1 => date_text(),
        2 => vec(statuses, 0..4).prop_map(|s| s.join(",")),
        1 => vec(select(&MACHINES[..]), 0..3).prop_map(|m| m.join(", ")),
        1 => select(&["true", "false", "TRUE", "1"][..]).prop_map(String::from),
        2 => text(20),
    ]
    .boxed()
}

/// `GET /api/v1/runs` query parameters: the page size is 1 to 100, machines are known ones,
/// and a `period` sets `createdAt.from` to exactly now minus the period.
pub fn run_list(name: &'static str, settings: &Settings) -> Report {
    let input = (pairs(RUN_LIST_NAMES, filter_value(), 8), server_now());
    fuzz(
        name,
        settings,
        input,
        |(params, now)| match parsers::run_list_query(params.clone(), *now) {
            Ok(q) => {
                ensure(
                    (1..=100).contains(&q.page.size),
                    "page size out of range",
                    || format!("{params:?} gave page size {}", q.page.size),
                )?;
                ensure(
                    q.filter
                        .machines
                        .iter()
                        .all(|m| MACHINES.contains(&m.as_str())),
                    "unknown machine accepted",
                    || format!("{params:?} gave machines {:?}", q.filter.machines),
                )?;
                created_from_is_exact(params, *now, q.filter.created_from)
            }
            Err(e) => client_error(&e, params),
        },
    )
}

/// When the last of `from` and `period` is a period, `from` is now minus it, without wrapping.
fn created_from_is_exact(
    params: &[(String, String)],
    now: Millis,
    from: Option<Millis>,
) -> Verdict {
    let last = params
        .iter()
        .rev()
        .find(|(k, _)| k == "filter[createdAt][from]" || k == "filter[createdAt][period]");
    let Some((k, v)) = last.filter(|(k, _)| k.ends_with("[period]")) else {
        return Ok(());
    };
    let want = duration::parse(v).ok().map(|ms| now - ms);
    ensure(
        from == want && from.is_some_and(|f| f <= now && f >= now - MAX),
        "period wrapped",
        || format!("{k}={v:?} at {now} gave from = {from:?}, want {want:?}"),
    )
}

/// `?page=&perPage=` of queue and schedule lists: page 1 to the maximum, perPage 1 to the
/// list's, so an offset never overflows.
pub fn offset_page(name: &'static str, settings: &Settings) -> Report {
    let value = prop_oneof![3 => number_text(), 1 => text(10)].boxed();
    let input = (pairs(&["page", "perPage"], value, 4), any::<i64>());
    fuzz(
        name,
        settings,
        input,
        |(params, total)| match OffsetPage::from_query(params, 25, 100) {
            Ok(p) => {
                let in_range = (1..=MAX_PAGE_NUMBER as usize).contains(&p.page)
                    && (1..=100).contains(&p.per_page);
                let offset = (p.page - 1)
                    .checked_mul(p.per_page)
                    .and_then(|o| i64::try_from(o).ok());
                ensure(in_range && offset.is_some(), "page out of range", || {
                    format!("{params:?} gave {p:?}")
                })?;
                let page = p.pagination(*total);
                ensure(page.total_pages >= 1, "no pages", || {
                    format!("{p:?} with {total} runs: {page:?}")
                })
            }
            Err(e) => client_error(&e, params),
        },
    )
}

/// Header values as the HTTP layer delivers them: bytes it accepts (visible ASCII, spaces,
/// tabs and bytes over 127).
fn header_value() -> BoxedStrategy<Option<HeaderValue>> {
    let value = prop_oneof![
        4 => number_text(),
        2 => (number_text(), number_text()).prop_map(|(a, b)| format!("{a}-{b}")),
        1 => select(&["latest", "EARLIEST", "Latest ", ""][..]).prop_map(String::from),
        1 => text(20),
    ];
    prop_oneof![
        8 => value.prop_map(|v| HeaderValue::from_str(&v).ok()),
        1 => bytes(20).prop_map(|b| HeaderValue::from_bytes(&b).ok()),
        1 => Just(None),
    ]
    .boxed()
}

fn headers(values: &[(&'static str, Option<HeaderValue>)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in values {
        if let Some(v) = value {
            map.insert(HeaderName::from_static(name), v.clone());
        }
    }
    map
}

/// The event id a `Last-Event-ID` text names (trimmed whole number, 0 or more).
fn event_id(text: &str) -> Option<i64> {
    text.trim().parse().ok().filter(|n: &i64| *n >= 0)
}

/// Run event streams: `Last-Event-ID` (header over parameter) is a whole number of 0 or more,
/// read exactly; tags are trimmed and never empty.
pub fn event_stream(name: &'static str, settings: &Settings) -> Report {
    let value = prop_oneof![3 => number_text(), 1 => text(16), 1 => vec("[a-z]{0,4}", 0..5).prop_map(|t| t.join(" , "))].boxed();
    let names = &["tag", "tags", "lastEventId", "stopOnCompletion"];
    let input = (pairs(names, value, 6), header_value());
    fuzz(name, settings, input, |(params, last)| {
        let map = headers(&[("last-event-id", last.clone())]);
        match parsers::event_options(params, &map) {
            Ok(o) => {
                let text = match last {
                    Some(h) => h.to_str().ok().map(str::to_string),
                    None => params
                        .iter()
                        .rev()
                        .find(|(k, _)| k == "lastEventId")
                        .map(|(_, v)| v.clone()),
                };
                let want = text.as_deref().and_then(event_id);
                ensure(o.last_event_id == want, "Last-Event-ID misread", || {
                    format!(
                        "{params:?} / {last:?} gave {:?}, want {want:?}",
                        o.last_event_id
                    )
                })?;
                ensure(
                    o.tags.iter().all(|t| !t.is_empty() && t.trim() == t),
                    "tag not trimmed",
                    || format!("{params:?} gave tags {:?}", o.tags),
                )
            }
            Err(e) => client_error(&e, (params, last)),
        }
    })
}

/// Output stream reads: `Last-Event-ID` `<ms>-<index>` starts after that index (never
/// wrapping past the largest), `Timeout-Seconds` is 1 to 600.
pub fn stream_read(name: &'static str, settings: &Settings) -> Report {
    let input = (header_value(), header_value(), header_value());
    fuzz(name, settings, input, |(last, start, timeout)| {
        let map = headers(&[
            ("last-event-id", last.clone()),
            ("x-trigger-stream-start", start.clone()),
            ("timeout-seconds", timeout.clone()),
        ]);
        match parsers::stream_read_options(&map) {
            Ok((from, _, wait)) => {
                let index = last.as_ref().and_then(|h| {
                    let text = h.to_str().unwrap_or("\u{fffd}");
                    event_id(text.rsplit('-').next().unwrap_or(text))
                });
                let want = index.map(|i| i.saturating_add(1));
                ensure(
                    from == want && from.is_none_or(|f| f >= 1),
                    "start index wrapped",
                    || format!("Last-Event-ID {last:?} gave {from:?}, want {want:?}"),
                )?;
                ensure(
                    (1..=600).contains(&wait.as_secs()),
                    "timeout out of range",
                    || format!("Timeout-Seconds {timeout:?} gave {wait:?}"),
                )
            }
            Err(e) => client_error(&e, (last, start, timeout)),
        }
    })
}

/// Pieces of query strings that decoders trip over.
const ODD_QUERY_PIECES: &[&str] = &[
    "%", "%0", "%zz", "%00", "%2500", "%C0%80", "%ff", "+", "=", "&&", "a=b=c",
];

/// Query strings: pairs of any text, percent-encoded or not, joined by `&`.
fn query() -> BoxedStrategy<(Vec<(String, String)>, String)> {
    let name = prop_oneof![3 => Just("access_token".to_string()), 2 => "[a-z_]{0,8}", 1 => text(8)];
    let value =
        prop_oneof![3 => "[A-Za-z0-9._-]{0,30}", 2 => text(16), 1 => Just("\0".to_string())];
    let encoded = vec((name, value), 0..5).prop_map(|pairs| {
        let text = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        (pairs, text)
    });
    let raw = vec(select(ODD_QUERY_PIECES), 0..6).prop_map(|p| (Vec::new(), p.concat()));
    prop_oneof![4 => encoded, 1 => raw, 1 => mutated(Just("access_token=abc.def.ghi".to_string())).prop_map(|q| (Vec::new(), q))].boxed()
}

fn encode(text: &str) -> String {
    utf8_percent_encode(text, NON_ALPHANUMERIC).to_string()
}

/// `?access_token=` (decoded: the first `access_token` pair, when not empty) and the NUL check
/// of URLs (a NUL in the decoded path or query is refused, nothing else is).
pub fn url_query(name: &'static str, settings: &Settings) -> Report {
    fuzz(name, settings, query(), |(pairs, query)| {
        let token = parsers::query_token(query);
        if !pairs.is_empty() {
            let want = pairs
                .iter()
                .find(|(k, _)| k == "access_token")
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_empty());
            ensure(token == want, "access_token misread", || {
                format!("{query:?} gave {token:?}, want {want:?}")
            })?;
        }
        let Ok(uri) = format!("/api/v1/runs?{query}").parse::<Uri>() else {
            return Ok(());
        };
        // What the server sees: the path and the query, not a fragment.
        let seen = format!("{}?{}", uri.path(), uri.query().unwrap_or(""));
        let has_nul = percent_encoding::percent_decode_str(&seen).any(|b| b == 0);
        let refused = parsers::nul_in_url(&uri);
        ensure(refused.is_some() == has_nul, "NUL check wrong", || {
            format!("{query:?}: NUL decoded = {has_nul}, refused = {refused:?}")
        })
    })
}

/// Names of the members whose values are the caller's own data.
fn data_member(name: &str) -> bool {
    parsers::DATA_MEMBERS.contains(&name)
}

/// Where `v` holds a NUL outside the caller's data, if anywhere.
fn nul_outside_data(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(nul_outside_data),
        Value::Object(members) => members
            .iter()
            .any(|(k, v)| k.contains('\0') || (!data_member(k) && nul_outside_data(v))),
        _ => false,
    }
}

/// JSON bodies: objects, with NULs in names, data and elsewhere, trailing data, odd bytes.
fn body() -> BoxedStrategy<Vec<u8>> {
    let nul_text = prop_oneof![Just("\0".to_string()), text(6)];
    let member = (
        prop_oneof![
            select(&["payload", "metadata", "options", "tags", "task", "a\0"][..])
                .prop_map(String::from),
            nul_text.clone()
        ],
        prop_oneof![json(2), nul_text.prop_map(Value::String)],
    );
    let object =
        vec(member, 0..5).prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>()));
    let trailer = select(&["", "", "", " ", "\n", "{}", "x", "\0", "]"][..]);
    prop_oneof![
        4 => (object, trailer).prop_map(|(o, t)| format!("{o}{t}").into_bytes()),
        2 => json_text().prop_map(String::into_bytes),
        1 => bytes(64),
    ]
    .boxed()
}

/// `parse_json`: only an object is taken, with nothing after it and no NUL outside the
/// caller's data; it is the value the text says; every refusal is a 400.
pub fn json_body(name: &'static str, settings: &Settings) -> Report {
    fuzz(name, settings, body(), |bytes| {
        match parsers::parse_json::<Value>(bytes) {
            Ok(v) => {
                let plain: Result<Value, _> = serde_json::from_slice(bytes);
                ensure(
                    plain.as_ref().ok() == Some(&v),
                    "value differs from the text",
                    || format!("{:?} read as {v}", String::from_utf8_lossy(bytes)),
                )?;
                ensure(
                    v.is_object() && !nul_outside_data(&v),
                    "accepts a bad body",
                    || format!("{:?} accepted as {v}", String::from_utf8_lossy(bytes)),
                )
            }
            Err(e) => client_error(&e, String::from_utf8_lossy(bytes)),
        }
    })
}
