//! `trigr_types::version` (deployment versions `YYYYMMDD.N`) and `trigr_types::version_guard`
//! (the `ifVersion` language). Comparisons must be numeric part by part and a total order;
//! guards must print back to themselves and match exactly the versions their clauses say.

use std::cmp::Ordering;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use trigr_types::version;
use trigr_types::version_guard::{
    Op, VersionGuard, MAX_CLAUSES, MAX_EXPRESSION_CHARS, MAX_PARTS, MAX_PART_DIGITS,
};

use crate::gen::{mutated, text};
use crate::report::Report;
use crate::runner::{ensure, fuzz, Settings, Verdict};

/// A part of a version: short numbers (for ties), long ones (past `u64`), zero-padded ones,
/// empty or not a number.
fn part() -> BoxedStrategy<String> {
    prop_oneof![
        6 => (0u64..12).prop_map(|n| n.to_string()),
        3 => "[0-9]{1,25}",
        2 => (0u64..12, 1usize..22).prop_map(|(n, w)| format!("{n:0w$}")),
        1 => select(&["", "*", "x", "-1", "+1", " 1", "1 ", "١"][..]).prop_map(String::from),
    ]
    .boxed()
}

/// A version-like text of 1 to 12 parts.
fn version_text() -> BoxedStrategy<String> {
    prop_oneof![
        8 => vec(part(), 1..12).prop_map(|parts| parts.join(".")),
        1 => mutated(vec(part(), 1..6).prop_map(|parts| parts.join("."))),
        1 => text(20),
    ]
    .boxed()
}

/// Whether `text` is all ASCII digits (and not empty).
fn is_number(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// Two digit strings compared as the numbers they write, at any length.
fn numeric(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// `version::compare`: antisymmetric, reflexive, transitive, and numeric for parts that are
/// numbers of any length.
pub fn compare(name: &'static str, settings: &Settings) -> Report {
    let input = (version_text(), version_text(), version_text());
    fuzz(name, settings, input, |(a, b, c)| {
        let ab = version::compare(a, b);
        ensure(
            version::compare(b, a) == ab.reverse(),
            "not antisymmetric",
            || format!("compare({a:?}, {b:?}) = {ab:?}, reversed it is not the reverse"),
        )?;
        ensure(version::compare(a, a).is_eq(), "not reflexive", || {
            format!("compare({a:?}, {a:?}) is not Equal")
        })?;
        let (bc, ac) = (version::compare(b, c), version::compare(a, c));
        ensure(
            !(ab.is_le() && bc.is_le()) || ac.is_le(),
            "not transitive",
            || format!("{a:?} <= {b:?} <= {c:?} but compare(a, c) = {ac:?}"),
        )?;
        numeric_parts(a, b, ab)
    })
}

/// Versions whose parts are all numbers compare as those numbers, part by part.
fn numeric_parts(a: &str, b: &str, got: Ordering) -> Verdict {
    let (pa, pb): (Vec<&str>, Vec<&str>) = (a.split('.').collect(), b.split('.').collect());
    if !pa.iter().chain(&pb).all(|p| is_number(p)) {
        return Ok(());
    }
    let want = pa
        .iter()
        .zip(&pb)
        .map(|(x, y)| numeric(x, y))
        .find(|o| o.is_ne())
        .unwrap_or(pa.len().cmp(&pb.len()));
    ensure(got == want, "not numeric per part", || {
        format!("compare({a:?}, {b:?}) = {got:?}, as numbers {want:?}")
    })
}

const OPERATORS: &[&str] = &[
    ">=", ">", "<=", "<", "=", "==", "!=", "", "", "", "=>", "<>", "!", "===", "=<",
];
const SPACES: &[&str] = &["", "", " ", "  ", "\t", "\u{a0}"];

/// One clause: an operator (or a near miss), a version or a wildcard, odd spacing.
fn clause() -> BoxedStrategy<String> {
    let wildcard = prop_oneof![
        Just("*".to_string()),
        vec(part(), 1..10).prop_map(|p| format!("{}.*", p.join("."))),
    ];
    let target = prop_oneof![4 => version_text(), 1 => wildcard];
    (
        select(SPACES),
        select(OPERATORS),
        select(SPACES),
        target,
        select(SPACES),
    )
        .prop_map(|(a, op, b, v, c)| format!("{a}{op}{b}{v}{c}"))
        .boxed()
}

/// An `ifVersion` expression: up to 40 clauses (past the limit of 16), edits, anything.
fn guard_text() -> BoxedStrategy<String> {
    let clauses = vec(clause(), 1..40).prop_map(|c| c.join(","));
    prop_oneof![
        6 => vec(clause(), 1..5).prop_map(|c| c.join(",")),
        2 => clauses,
        1 => mutated(vec(clause(), 1..4).prop_map(|c| c.join(","))),
        1 => text(300),
    ]
    .boxed()
}

/// A version spelled with zero padding, and its numeric parts.
fn probe() -> BoxedStrategy<String> {
    prop_oneof![
        4 => vec((0u64..12, 1usize..4), 1..=MAX_PARTS)
            .prop_map(|p| p.iter().map(|(n, w)| format!("{n:0w$}")).collect::<Vec<_>>().join(".")),
        1 => version_text(),
    ]
    .boxed()
}

/// The parts of a version under the documented rules (`None`: not a version).
fn reference_parts(text: &str) -> Option<Vec<u64>> {
    let parts: Vec<&str> = text.split('.').collect();
    if parts.len() > MAX_PARTS {
        return None;
    }
    parts
        .iter()
        .map(|p| {
            (is_number(p) && p.len() <= MAX_PART_DIGITS)
                .then(|| p.parse().ok())
                .flatten()
        })
        .collect()
}

/// `a` and `b` compared part by part, a missing part counting as 0.
fn padded_cmp(a: &[u64], b: &[u64]) -> Ordering {
    (0..a.len().max(b.len()))
        .map(|i| {
            let part = |v: &[u64]| v.get(i).copied().unwrap_or(0);
            part(a).cmp(&part(b))
        })
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}

/// Whether `guard` holds for a version of parts `v`, from its structure alone.
fn reference_match(guard: &VersionGuard, v: &[u64]) -> bool {
    match guard {
        VersionGuard::Exact(w) => padded_cmp(v, w.parts()).is_eq(),
        VersionGuard::Compare(op, w) => {
            let ord = padded_cmp(v, w.parts());
            match op {
                Op::Gt => ord.is_gt(),
                Op::Ge => ord.is_ge(),
                Op::Lt => ord.is_lt(),
                Op::Le => ord.is_le(),
                Op::Eq => ord.is_eq(),
                Op::Ne => ord.is_ne(),
            }
        }
        VersionGuard::Wildcard(prefix) => prefix
            .iter()
            .enumerate()
            .all(|(i, p)| v.get(i).copied().unwrap_or(0) == *p),
        VersionGuard::All(clauses) => clauses.iter().all(|c| reference_match(c, v)),
    }
}

/// `VersionGuard::parse`: a parsed guard prints back to an equal guard, matches no unlocked
/// version, and matches a version exactly when its clauses say so numerically; the limits
/// hold.
pub fn guard(name: &'static str, settings: &Settings) -> Report {
    let input = (guard_text(), vec(probe(), 1..4));
    fuzz(name, settings, input, |(expr, probes)| {
        let Ok(guard) = VersionGuard::parse(expr) else {
            return Ok(());
        };
        within_limits(expr, &guard)?;
        let shown = guard.to_string();
        let back = VersionGuard::parse(&shown);
        ensure(back.as_ref() == Ok(&guard), "does not round-trip", || {
            format!("{expr:?} parsed as {guard:?}, printed as {shown:?}, parsed back as {back:?}")
        })?;
        ensure(!guard.matches(None), "matches an unlocked run", || {
            format!("{expr:?} matches None")
        })?;
        probes.iter().try_for_each(|p| {
            let want = reference_parts(p).is_some_and(|v| reference_match(&guard, &v));
            let got = guard.matches(Some(p));
            ensure(got == want, "not numeric per part", || {
                format!("{expr:?} on {p:?}: matches = {got}, the clauses say {want}")
            })
        })
    })
}

/// An accepted expression is within the documented limits.
fn within_limits(expr: &str, guard: &VersionGuard) -> Verdict {
    let clauses = match guard {
        VersionGuard::All(c) => c.len(),
        _ => 1,
    };
    ensure(
        expr.chars().count() <= MAX_EXPRESSION_CHARS && clauses <= MAX_CLAUSES,
        "over the limits",
        || format!("{expr:?} accepted with {clauses} clauses"),
    )
}
