//! Payload and output packets: a string `data` plus a `dataType`.

use serde_json::Value;

pub const JSON: &str = "application/json";
pub const SUPER_JSON: &str = "application/super+json";
pub const TEXT: &str = "text/plain";
pub const STORE: &str = "application/store";

/// A packet that cannot be read as its type says.
#[derive(Debug, thiserror::Error)]
#[error("the payload is not valid {data_type}: {reason}")]
pub struct Error {
    pub data_type: String,
    pub reason: String,
}

/// The plain JSON value of a packet: SuperJSON is unwrapped to its `json` member, text becomes
/// a JSON string.
pub fn to_value(data: &str, data_type: &str) -> Result<Value, Error> {
    let fail = |reason: String| Error {
        data_type: data_type.to_string(),
        reason,
    };
    match data_type {
        TEXT | STORE => Ok(Value::String(data.to_string())),
        SUPER_JSON => {
            let v: Value = serde_json::from_str(data).map_err(|e| fail(e.to_string()))?;
            match v {
                Value::Object(mut o) => Ok(o.remove("json").unwrap_or(Value::Null)),
                _ => Err(fail("expected an object with a \"json\" member".into())),
            }
        }
        _ => serde_json::from_str(data).map_err(|e| fail(e.to_string())),
    }
}

/// Whether the API accepts this `payloadType`.
pub fn is_known_type(data_type: &str) -> bool {
    matches!(data_type, JSON | SUPER_JSON | TEXT | STORE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unwraps() {
        let sj =
            r#"{"json":{"a":1,"d":"1970-01-01T00:00:00.000Z"},"meta":{"values":{"d":["Date"]}}}"#;
        assert_eq!(
            to_value(sj, SUPER_JSON).unwrap(),
            json!({"a":1,"d":"1970-01-01T00:00:00.000Z"})
        );
        assert_eq!(to_value("hi", TEXT).unwrap(), json!("hi"));
        assert_eq!(to_value("[1]", JSON).unwrap(), json!([1]));
        assert!(to_value("{", JSON).is_err());
        assert!(to_value("1", SUPER_JSON).is_err());
    }
}
