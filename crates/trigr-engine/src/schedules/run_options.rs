//! What a schedule gives each run it fires: payload members, metadata, a machine preset and
//! tags (trigr additions to the schedule object).
//!
//! **Payload merge rule.** The user's payload is a JSON object whose members are added at the
//! top level of the payload the scheduled run receives, beside the members Trigger.dev sends
//! (`type`, `timestamp`, `lastTimestamp`, `timezone`, `scheduleId`, `externalId`,
//! `upcoming`). Those names are reserved: a payload naming one is refused, so a task always
//! reads the schedule's own values there. The user's payload is bounded by the run payload
//! limit less [`SCHEDULED_MEMBERS_ROOM`], so the merged payload always fits.
//!
//! Metadata is a JSON object within the run metadata limit; the machine is one of
//! [`MACHINES`]; tags are those of runs ([`crate::trigger::tag_list`]): at most
//! [`MAX_TAGS`], each 1-128 characters.

use serde_json::{Map, Value};
use trigr_store::ScheduledRunOptions;
use trigr_types::wire::rest::{ScheduleBody, ScheduleUpdate};
use trigr_types::MACHINES;

use crate::trigger::{tag_list, MAX_TAGS, MAX_TAG_LEN};
use crate::{Config, Error, Result};

/// The payload members the schedule itself fills; a user's payload may not name them.
pub const RESERVED_PAYLOAD_KEYS: [&str; 7] = [
    "type",
    "timestamp",
    "lastTimestamp",
    "timezone",
    "scheduleId",
    "externalId",
    "upcoming",
];

/// Bytes of the run payload limit kept for the members the schedule fills (an external id
/// of up to 1024 characters, five upcoming times, the zone, the id).
pub const SCHEDULED_MEMBERS_ROOM: usize = 4096;

/// A change of a schedule's run options: `None` keeps one, `Some(None)` removes it (tags:
/// `Some(vec![])`).
#[derive(Clone, Debug, Default)]
pub struct RunOptionsChange {
    pub payload: Option<Option<String>>,
    pub metadata: Option<Option<String>>,
    pub machine: Option<Option<String>>,
    pub tags: Option<Vec<String>>,
}

impl RunOptionsChange {
    /// `current` with this change applied.
    pub fn applied_to(&self, current: &ScheduledRunOptions) -> ScheduledRunOptions {
        ScheduledRunOptions {
            payload: pick(&self.payload, &current.payload),
            metadata: pick(&self.metadata, &current.metadata),
            machine: pick(&self.machine, &current.machine),
            tags: self.tags.clone().unwrap_or_else(|| current.tags.clone()),
        }
    }
}

fn pick(change: &Option<Option<String>>, current: &Option<String>) -> Option<String> {
    change.clone().unwrap_or_else(|| current.clone())
}

/// Checks the run options of a schedule create (sizes are checked by
/// [`check_sizes`]); `null` is the same as leaving one out.
pub fn check(body: &ScheduleBody) -> Result<ScheduledRunOptions> {
    Ok(ScheduledRunOptions {
        payload: payload_text(body.payload.as_ref())?,
        metadata: metadata_text(body.metadata.as_ref())?,
        machine: machine(body.machine.as_ref())?,
        tags: tags(body.tags.as_ref())?,
    })
}

/// Checks the run options of a schedule update: one left out is kept, `null` removes it.
pub fn check_change(body: &ScheduleUpdate) -> Result<RunOptionsChange> {
    Ok(RunOptionsChange {
        payload: body
            .payload
            .as_ref()
            .map(|v| payload_text(Some(v)))
            .transpose()?,
        metadata: body
            .metadata
            .as_ref()
            .map(|v| metadata_text(Some(v)))
            .transpose()?,
        machine: body
            .machine
            .as_ref()
            .map(|v| machine(Some(v)))
            .transpose()?,
        tags: body.tags.as_ref().map(|v| tags(Some(v))).transpose()?,
    })
}

/// The payload and metadata fit the run limits.
pub fn check_sizes(run: &ScheduledRunOptions, config: &Config) -> Result<()> {
    check_payload_size(run.payload.as_deref(), config)?;
    check_metadata_size(run.metadata.as_deref(), config)
}

/// [`check_sizes`] for what a change sets.
pub fn check_change_sizes(change: &RunOptionsChange, config: &Config) -> Result<()> {
    check_payload_size(change.payload.clone().flatten().as_deref(), config)?;
    check_metadata_size(change.metadata.clone().flatten().as_deref(), config)
}

fn check_payload_size(payload: Option<&str>, config: &Config) -> Result<()> {
    let limit = config
        .max_payload_bytes
        .saturating_sub(SCHEDULED_MEMBERS_ROOM);
    match payload {
        Some(p) if p.len() > limit => Err(Error::invalid(format!(
            "payload is {} bytes, over the limit of {limit} bytes for a schedule's payload",
            p.len()
        ))),
        _ => Ok(()),
    }
}

fn check_metadata_size(metadata: Option<&str>, config: &Config) -> Result<()> {
    let limit = config.max_metadata_bytes;
    match metadata {
        Some(m) if m.len() > limit => Err(Error::invalid(format!(
            "metadata is {} bytes, over the limit of {limit} bytes",
            m.len()
        ))),
        _ => Ok(()),
    }
}

/// The `tag` filter of a list: 1-128 characters, no NUL.
pub fn check_tag_filter(tag: Option<&str>) -> Result<()> {
    match tag {
        Some(t) if t.is_empty() || t.len() > MAX_TAG_LEN || t.contains('\0') => {
            Err(Error::invalid(format!(
                "tag must be 1-{MAX_TAG_LEN} characters without NUL"
            )))
        }
        _ => Ok(()),
    }
}

fn payload_text(v: Option<&Value>) -> Result<Option<String>> {
    let Some(object) = object(v, "payload")? else {
        return Ok(None);
    };
    if let Some(key) = RESERVED_PAYLOAD_KEYS
        .iter()
        .find(|k| object.contains_key(**k))
    {
        return Err(Error::invalid(format!(
            "payload.{key} is reserved: the schedule fills it in each scheduled run's payload"
        )));
    }
    Ok(Some(Value::Object(object.clone()).to_string()))
}

fn metadata_text(v: Option<&Value>) -> Result<Option<String>> {
    Ok(object(v, "metadata")?.map(|o| Value::Object(o.clone()).to_string()))
}

/// A JSON object, or nothing for `null`.
fn object<'v>(v: Option<&'v Value>, name: &str) -> Result<Option<&'v Map<String, Value>>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(_) => Err(Error::invalid(format!("{name} must be a JSON object"))),
    }
}

fn machine(v: Option<&Value>) -> Result<Option<String>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(m)) if MACHINES.contains(&m.as_str()) => Ok(Some(m.clone())),
        Some(_) => Err(Error::invalid(format!(
            "machine must be one of {}",
            MACHINES.join(", ")
        ))),
    }
}

/// Up to [`MAX_TAGS`] run tags, distinct and sorted; none for `null`.
fn tags(v: Option<&Value>) -> Result<Vec<String>> {
    if matches!(v, None | Some(Value::Null)) {
        return Ok(Vec::new());
    }
    // A trigger takes one tag as a string too; a schedule's tags are a list, as documented.
    if !matches!(v, Some(Value::Array(_))) {
        return Err(Error::invalid("tags must be a list of strings"));
    }
    // Run tags over the count are a 422 (as Trigger.dev answers a trigger); a schedule's
    // fields are refused with a 400 like its other bounds.
    let mut tags = tag_list(v, "Schedules").map_err(|e| match e {
        Error::Unprocessable(m) => Error::Invalid(m),
        other => other,
    })?;
    if tags.iter().any(|t| t.contains('\0')) {
        return Err(Error::invalid("tags must not contain NUL"));
    }
    tags.sort();
    debug_assert!(tags.len() <= MAX_TAGS);
    Ok(tags)
}
