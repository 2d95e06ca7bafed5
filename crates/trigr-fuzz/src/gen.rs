//! Generators every target draws on: hostile text, numbers at the edges of every integer type,
//! near-valid text with a few edits, bytes that are not UTF-8, and JSON (deep, wide, odd).

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{select, Index};
use serde_json::Value;

/// Characters parsers trip over: signs, separators, whitespace of every kind, NUL, byte order
/// and direction marks, combining marks, digits of other scripts, the last code points.
const TRICKY: &[char] = &[
    '0',
    '1',
    '9',
    '-',
    '+',
    '.',
    ',',
    ':',
    ';',
    ' ',
    '\t',
    '\n',
    '\r',
    '\0',
    '\u{b}',
    '\u{c}',
    '\u{85}',
    '\u{a0}',
    '\u{2028}',
    '\u{feff}',
    '\u{200b}',
    '\u{202e}',
    'é',
    'ß',
    'İ',
    '\u{301}',
    '١',
    '０',
    '𝟗',
    '½',
    '∞',
    '\u{ffff}',
    '\u{10ffff}',
    '😀',
    '"',
    '\'',
    '\\',
    '/',
    '%',
    '*',
    '#',
    '?',
    '=',
    '<',
    '>',
    '!',
    '&',
    '[',
    ']',
    '{',
    '}',
    '$',
    '@',
    '_',
    'e',
    'E',
    'x',
    'L',
    'W',
];

/// Integers as text at the edges of `i8` … `u128`, and forms a number parser may half accept.
const EDGE_NUMBERS: &[&str] = &[
    "0",
    "-0",
    "+0",
    "-1",
    "+1",
    "127",
    "128",
    "255",
    "256",
    "2147483647",
    "2147483648",
    "4294967295",
    "4294967296",
    "9007199254740993",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999",
    "106751991167",
    "106751991168",
    "153722867280912",
    "2562047788015215",
    "340282366920938463463374607431768211456",
    "1e3",
    "1.5",
    "0x10",
    "1_000",
    " 1",
    "1 ",
    "١٢",
    "",
];

/// Byte sequences that are not UTF-8 (and a few that are, but odd: BOM, NUL).
const ODD_BYTES: &[&[u8]] = &[
    b"\xff",
    b"\xfe\xff",
    b"\xc0\x80",
    b"\x80",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"\xe2\x82",
    b"\xef\xbb\xbf",
    b"\0",
    b"\r\n",
];

/// A character parsers trip over (see `TRICKY`).
pub fn tricky_char() -> impl Strategy<Value = char> {
    select(TRICKY)
}

/// Any text up to `max` characters: arbitrary code points, or tricky ones only.
pub fn text(max: usize) -> BoxedStrategy<String> {
    prop_oneof![
        vec(any::<char>(), 0..=max).prop_map(String::from_iter),
        vec(tricky_char(), 0..=max).prop_map(String::from_iter),
    ]
    .boxed()
}

/// An integer as text: at and just below the edges of the integer types, long runs of 9s,
/// leading zeros.
pub fn number_text() -> BoxedStrategy<String> {
    prop_oneof![
        3 => (0u64..100).prop_map(|n| n.to_string()),
        2 => any::<i64>().prop_map(|n| n.to_string()),
        2 => any::<u64>().prop_map(|n| n.to_string()),
        1 => any::<u128>().prop_map(|n| n.to_string()),
        3 => select(EDGE_NUMBERS).prop_map(String::from),
        2 => (0u64..1_000, select(&[u64::MAX, i64::MAX as u64, 1 << 63, u32::MAX as u64][..]))
            .prop_map(|(d, edge)| edge.wrapping_sub(d).to_string()),
        1 => (1usize..60).prop_map(|n| "9".repeat(n)),
        1 => (0usize..40, 0u64..10).prop_map(|(zeros, n)| format!("{}{n}", "0".repeat(zeros))),
    ]
    .boxed()
}

/// One edit of a near-valid input.
#[derive(Clone, Debug)]
enum Edit {
    Insert(Index, char),
    Remove(Index),
    Double(Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<Index>(), tricky_char()).prop_map(|(i, c)| Edit::Insert(i, c)),
        (any::<Index>(), any::<char>()).prop_map(|(i, c)| Edit::Insert(i, c)),
        any::<Index>().prop_map(Edit::Remove),
        any::<Index>().prop_map(Edit::Double),
    ]
}

/// `base` with one to three edits: a character inserted, removed or doubled.
pub fn mutated(base: impl Strategy<Value = String> + 'static) -> BoxedStrategy<String> {
    (base, vec(edit(), 1..4))
        .prop_map(|(text, edits)| apply_edits(&text, &edits))
        .boxed()
}

fn apply_edits(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for e in edits {
        match e {
            Edit::Insert(i, c) => chars.insert(i.index(chars.len() + 1), *c),
            Edit::Remove(i) if !chars.is_empty() => {
                chars.remove(i.index(chars.len()));
            }
            Edit::Double(i) if !chars.is_empty() => {
                let at = i.index(chars.len());
                chars.insert(at, chars[at]);
            }
            Edit::Remove(_) | Edit::Double(_) => {}
        }
    }
    chars.into_iter().collect()
}

/// Bytes up to `max`: random, or text spliced with sequences that are not UTF-8.
pub fn bytes(max: usize) -> BoxedStrategy<Vec<u8>> {
    let piece = prop_oneof![
        text(16).prop_map(String::into_bytes),
        select(ODD_BYTES).prop_map(<[u8]>::to_vec),
    ];
    prop_oneof![
        vec(any::<u8>(), 0..=max),
        vec(piece, 0..8).prop_map(|pieces| pieces.concat()),
    ]
    .boxed()
}

/// Number literals JSON parsers disagree on: out of range, very long, signed zero.
const ODD_JSON_NUMBERS: &[&str] = &[
    "1e308",
    "1e309",
    "-1e309",
    "-0",
    "0.1e-400",
    "1.7976931348623157e308",
    "123456789012345678901234567890",
    "18446744073709551616",
    "-9223372036854775809",
    "1E+2",
    "0.30000000000000004",
];

/// A JSON number literal: any `f64`, or one of the odd ones.
pub fn json_number_text() -> BoxedStrategy<String> {
    prop_oneof![
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| f.to_string()),
        select(ODD_JSON_NUMBERS).prop_map(String::from),
    ]
    .boxed()
}

/// JSON values nested up to `depth` levels, without floats (so they compare equal after a
/// round trip through text).
pub fn json(depth: u32) -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        text(24).prop_map(Value::String),
    ];
    leaf.prop_recursive(depth, 64, 8, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..8).prop_map(Value::Array),
            vec((text(12), inner), 0..8)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
    .boxed()
}

/// JSON text nested up to 20 000 levels (`[[[…]]]` or `{"a":{"a":…}}`), closed or not.
pub fn deep_json() -> BoxedStrategy<String> {
    (1usize..20_000, any::<bool>(), any::<bool>())
        .prop_map(|(depth, arrays, closed)| {
            let (open, close) = if arrays { ("[", "]") } else { ("{\"a\":", "}") };
            let mut text = open.repeat(depth);
            text.push('1');
            if closed {
                text.push_str(&close.repeat(depth));
            }
            text
        })
        .boxed()
}

/// Text that looks like JSON but is not quite: odd numbers, deep nesting, values with edits.
pub fn json_text() -> BoxedStrategy<String> {
    prop_oneof![
        4 => json(4).prop_map(|v| v.to_string()),
        2 => mutated(json(3).prop_map(|v| v.to_string())),
        1 => json_number_text(),
        1 => deep_json(),
        1 => text(64),
    ]
    .boxed()
}
