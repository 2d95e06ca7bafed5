//! `trigr_types::packet::to_value`: payloads and outputs as JSON, SuperJSON or text, deeply
//! nested or not. Known values must come back unchanged.

use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{json, Value};
use trigr_types::packet::{self, JSON, STORE, SUPER_JSON, TEXT};

use crate::gen::{deep_json, json, json_text, text};
use crate::report::Report;
use crate::runner::{ensure, fuzz, Settings};

/// A packet and, when known, the value it must give.
#[derive(Clone, Debug)]
pub struct PacketCase {
    data: String,
    data_type: String,
    expected: Option<Value>,
}

const TYPES: &[&str] = &[
    JSON,
    SUPER_JSON,
    TEXT,
    STORE,
    "",
    "application/JSON",
    "application/json; charset=utf-8",
    "text/html",
];

fn case() -> BoxedStrategy<PacketCase> {
    let plain = json(5).prop_map(|v| PacketCase {
        data: v.to_string(),
        data_type: JSON.into(),
        expected: Some(v),
    });
    let super_json = (json(5), json(2)).prop_map(|(v, meta)| PacketCase {
        data: json!({ "json": v, "meta": meta }).to_string(),
        data_type: SUPER_JSON.into(),
        expected: Some(v),
    });
    let text_packet = (text(200), select(&[TEXT, STORE][..])).prop_map(|(t, ty)| PacketCase {
        expected: Some(Value::String(t.clone())),
        data: t,
        data_type: ty.into(),
    });
    let deep_super = deep_json().prop_map(|d| PacketCase {
        data: format!("{{\"json\":{d}}}"),
        data_type: SUPER_JSON.into(),
        expected: None,
    });
    let odd =
        (prop_oneof![json_text(), deep_json()], select(TYPES)).prop_map(|(data, ty)| PacketCase {
            data,
            data_type: ty.into(),
            expected: None,
        });
    prop_oneof![plain, super_json, text_packet, deep_super, odd].boxed()
}

/// `packet::to_value`: JSON and SuperJSON values and text come back unchanged; anything else
/// is an error or a value, never a panic.
pub fn to_value(name: &'static str, settings: &Settings) -> Report {
    fuzz(name, settings, case(), |c| {
        let got = packet::to_value(&c.data, &c.data_type);
        match &c.expected {
            Some(want) => ensure(got.as_ref().ok() == Some(want), "value changed", || {
                format!("{:?} as {} gave {got:?}", c.data, c.data_type)
            }),
            None => Ok(()),
        }
    })
}
