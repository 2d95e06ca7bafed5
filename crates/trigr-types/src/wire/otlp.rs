//! OTLP/HTTP JSON, as far as trigr reads it (`POST /otel/v1/traces`, `/otel/v1/logs`,
//! `/otel/v1/metrics`): the export requests of traces and logs down to each span and log
//! record, and the export answer with its `partialSuccess`.
//!
//! Members follow the OTLP JSON encoding: lowerCamelCase names, trace and span ids as hex,
//! 64-bit integers as decimal strings (numbers are read too), enums as integers. Members trigr
//! does not use are ignored; every member may be absent.

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `ExportTraceServiceRequest`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TracesRequest {
    pub resource_spans: Vec<ResourceSpans>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ResourceSpans {
    pub resource: Resource,
    pub scope_spans: Vec<ScopeSpans>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Resource {
    pub attributes: Vec<KeyValue>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Scope {
    pub name: String,
    pub attributes: Vec<KeyValue>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ScopeSpans {
    pub scope: Scope,
    pub spans: Vec<Span>,
}

/// One OTLP span.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Span {
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: String,
    pub name: String,
    /// 0 unspecified, 1 internal, 2 server, 3 client, 4 producer, 5 consumer.
    pub kind: i64,
    #[serde(deserialize_with = "int64")]
    pub start_time_unix_nano: i64,
    #[serde(deserialize_with = "int64")]
    pub end_time_unix_nano: i64,
    pub attributes: Vec<KeyValue>,
    pub status: Status,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Status {
    /// 0 unset, 1 ok, 2 error.
    pub code: i64,
    pub message: String,
}

/// An attribute: a key and an `AnyValue` (`{"stringValue": …}`, `{"intValue": …}`, …).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct KeyValue {
    pub key: String,
    pub value: Value,
}

/// `ExportLogsServiceRequest`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LogsRequest {
    pub resource_logs: Vec<ResourceLogs>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ResourceLogs {
    pub resource: Resource,
    pub scope_logs: Vec<ScopeLogs>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ScopeLogs {
    pub scope: Scope,
    pub log_records: Vec<LogRecord>,
}

/// One OTLP log record.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LogRecord {
    #[serde(deserialize_with = "int64")]
    pub time_unix_nano: i64,
    #[serde(deserialize_with = "int64")]
    pub observed_time_unix_nano: i64,
    /// 1-4 trace, 5-8 debug, 9-12 info, 13-16 warn, 17-24 error and fatal.
    pub severity_number: i64,
    pub severity_text: String,
    pub body: Value,
    pub attributes: Vec<KeyValue>,
}

/// The answer to an export: `{}` when everything was taken, else `partialSuccess` says how
/// much was rejected and why.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ExportAnswer {
    #[serde(
        default,
        deserialize_with = "super::given",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub partial_success: Option<PartialSuccess>,
}

/// What an export left out. Counts are decimal strings (OTLP's 64-bit integers).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PartialSuccess {
    #[serde(
        default,
        deserialize_with = "super::given",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub rejected_spans: Option<String>,
    #[serde(
        default,
        deserialize_with = "super::given",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub rejected_log_records: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error_message: String,
}

/// An OTLP 64-bit integer: a decimal string or a number (0 when absent or `null`).
fn int64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(0),
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_u64().map(|u| u.min(i64::MAX as u64) as i64))
            .ok_or_else(|| de::Error::custom("expected a whole number")),
        Value::String(s) => s
            .parse::<u64>()
            .map(|u| u.min(i64::MAX as u64) as i64)
            .map_err(|_| de::Error::custom(format!("expected a decimal integer, got '{s}'"))),
        _ => Err(de::Error::custom("expected a decimal string or a number")),
    }
}

/// The text of an `AnyValue`: a string as is, a number or a boolean written out, anything
/// else as its JSON.
pub fn any_value_text(v: &Value) -> Option<String> {
    let obj = v.as_object()?;
    let (kind, inner) = obj.iter().next()?;
    Some(match (kind.as_str(), inner) {
        ("stringValue", Value::String(s)) => s.clone(),
        ("intValue", Value::String(s)) => s.clone(),
        (_, Value::String(s)) => s.clone(),
        (_, other) => other.to_string(),
    })
}

/// The plain JSON of an `AnyValue` (`{"intValue": "3"}` is `3`, a `kvlistValue` an object).
pub fn any_value_json(v: &Value) -> Value {
    let Some((kind, inner)) = v.as_object().and_then(|o| o.iter().next()) else {
        return Value::Null;
    };
    match kind.as_str() {
        "intValue" => match inner {
            Value::String(s) => s.parse::<i64>().map_or(inner.clone(), Value::from),
            other => other.clone(),
        },
        "arrayValue" => Value::Array(
            inner["values"]
                .as_array()
                .map(|vs| vs.iter().map(any_value_json).collect())
                .unwrap_or_default(),
        ),
        "kvlistValue" => Value::Object(
            inner["values"]
                .as_array()
                .map(|vs| {
                    vs.iter()
                        .filter_map(|kv| {
                            Some((
                                kv["key"].as_str()?.to_string(),
                                any_value_json(&kv["value"]),
                            ))
                        })
                        .collect()
                })
                .unwrap_or_default(),
        ),
        _ => inner.clone(),
    }
}

/// The attributes as one JSON object of plain values.
pub fn attributes_json(attrs: &[KeyValue]) -> serde_json::Map<String, Value> {
    attrs
        .iter()
        .map(|kv| (kv.key.clone(), any_value_json(&kv.value)))
        .collect()
}

/// The text of the attribute named `key`, if there is one.
pub fn attribute<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attrs.iter().find(|kv| kv.key == key).map(|kv| &kv.value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_a_trace_export() {
        let body = json!({"resourceSpans": [{"resource": {"attributes": [{"key": "ctx.run.id", "value": {"stringValue": "run_1"}}]},
            "scopeSpans": [{"scope": {"name": "trigger.dev"}, "spans": [{"traceId": "4bf92f3577b34da6a3ce929d0e0e4736", "spanId": "00f067aa0ba902b7",
            "name": "fetch", "kind": 3, "startTimeUnixNano": "1764190800000000000", "endTimeUnixNano": 1764190800250000000u64,
            "attributes": [{"key": "n", "value": {"intValue": "3"}}], "status": {"code": 2, "message": "boom"}}]}]}]});
        let r: TracesRequest = serde_json::from_value(body).unwrap();
        let span = &r.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(span.start_time_unix_nano, 1_764_190_800_000_000_000);
        assert_eq!(span.end_time_unix_nano, 1_764_190_800_250_000_000);
        assert_eq!(span.status.code, 2);
        assert_eq!(attributes_json(&span.attributes)["n"], json!(3));
        let run = attribute(&r.resource_spans[0].resource.attributes, "ctx.run.id").unwrap();
        assert_eq!(any_value_text(run).as_deref(), Some("run_1"));
    }

    #[test]
    fn refuses_a_time_that_is_not_a_number() {
        let body = json!({"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]});
        assert!(serde_json::from_value::<TracesRequest>(body).is_err());
    }
}
