//! The links between operations: which answer names the resource another operation takes.
//! Clients that follow links (and stateful API tests) go from a create to the reads, changes
//! and deletes of what it created.

use serde_json::{json, Value};

/// From an answer of one operation to another operation, with the path parameter it fills.
struct Link {
    from: &'static str,
    status: &'static str,
    to: &'static str,
    parameter: &'static str,
    /// A runtime expression into the answer.
    value: &'static str,
}

const fn link(
    from: &'static str,
    status: &'static str,
    to: &'static str,
    parameter: &'static str,
    value: &'static str,
) -> Link {
    Link {
        from,
        status,
        to,
        parameter,
        value,
    }
}

const RUN_ID: &str = "$response.body#/id";
const FIRST_ID: &str = "$response.body#/data/0/id";

/// Every link of the document. Streams (server-sent events) are left out: they stay open
/// until the run ends, which a created run in a test does not.
const LINKS: &[Link] = &[
    link("triggerTask", "200", "retrieveRun", "run_id", RUN_ID),
    link("triggerTask", "200", "cancelRun", "run_id", RUN_ID),
    link("triggerTask", "200", "replayRun", "run_id", RUN_ID),
    link("triggerTask", "200", "rescheduleRun", "run_id", RUN_ID),
    link("triggerTask", "200", "addRunTags", "run_id", RUN_ID),
    link("triggerTask", "200", "getRunMetadata", "run_id", RUN_ID),
    link("triggerTask", "200", "updateRunMetadata", "run_id", RUN_ID),
    link("triggerTask", "200", "listRunLogs", "run_id", RUN_ID),
    link("triggerTask", "200", "sendInputStream", "run_id", RUN_ID),
    link(
        "triggerTask",
        "200",
        "subscribeToRunShape",
        "run_id",
        RUN_ID,
    ),
    link("cancelRun", "200", "retrieveRun", "run_id", RUN_ID),
    link("replayRun", "200", "retrieveRun", "run_id", RUN_ID),
    link("listRuns", "200", "retrieveRun", "run_id", FIRST_ID),
    link("createBatch", "202", "addBatchItems", "batch_id", RUN_ID),
    link("createBatch", "202", "retrieveBatch", "batch_id", RUN_ID),
    link(
        "createBatch",
        "202",
        "subscribeToBatchShape",
        "batch_id",
        RUN_ID,
    ),
    link("createBatch", "200", "retrieveBatch", "batch_id", RUN_ID),
    link("createSchedule", "200", "retrieveSchedule", "id", RUN_ID),
    link("createSchedule", "200", "updateSchedule", "id", RUN_ID),
    link("createSchedule", "200", "activateSchedule", "id", RUN_ID),
    link("createSchedule", "200", "deactivateSchedule", "id", RUN_ID),
    link("createSchedule", "200", "deleteSchedule", "id", RUN_ID),
    link("deleteSchedule", "200", "retrieveSchedule", "id", RUN_ID),
    link("createWaitToken", "200", "retrieveWaitToken", "id", RUN_ID),
    link("createWaitToken", "200", "completeWaitToken", "id", RUN_ID),
    link(
        "registerDeployment",
        "201",
        "promoteDeployment",
        "version",
        "$response.body#/version",
    ),
    link(
        "registerDeployment",
        "200",
        "promoteDeployment",
        "version",
        "$response.body#/version",
    ),
    link("listQueues", "200", "retrieveQueue", "queue", FIRST_ID),
    link("listQueues", "200", "pauseQueue", "queue", FIRST_ID),
    link(
        "listQueues",
        "200",
        "overrideQueueConcurrency",
        "queue",
        FIRST_ID,
    ),
    link(
        "listQueues",
        "200",
        "resetQueueConcurrency",
        "queue",
        FIRST_ID,
    ),
];

/// Adds [`LINKS`] to the answers they start from.
pub fn add(document: &mut Value) {
    for l in LINKS {
        let Some(response) = response_of(document, l.from, l.status) else {
            panic!(
                "no answer {} of operation {} to link from",
                l.status, l.from
            );
        };
        let parameters = json!({ l.parameter: l.value });
        let name = format!("{}{}", l.to[..1].to_uppercase(), &l.to[1..]);
        response["links"][name] = json!({ "operationId": l.to, "parameters": parameters });
    }
}

/// The answer `status` of the operation `operation_id`, where the operation documents it
/// itself (not a shared `$ref`).
fn response_of<'a>(
    document: &'a mut Value,
    operation_id: &str,
    status: &str,
) -> Option<&'a mut Value> {
    document["paths"]
        .as_object_mut()?
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
        .find(|op| op["operationId"] == operation_id)?
        .get_mut("responses")?
        .get_mut(status)
}
