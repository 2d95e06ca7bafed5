// Drives a running trigr server with the official `@trigger.dev/sdk` (pinned in package.json).
//
// Environment:
//   TRIGGER_API_URL        base URL of the trigr server, e.g. http://127.0.0.1:3030
//   TRIGGER_SECRET_KEY     secret key of the dev environment (tr_dev_…)
//   TRIGR_PROD_SECRET_KEY  secret key of the prod environment of the same server (tr_prod_…)
//   TRIGR_IDEMPOTENCY_OUT  a file the suite writes the idempotency keys it made (and the run one
//                          of them made) to, for the Rust client to check it makes the same keys
//   TRIGR_PROJECT_REF      reference of the project of both keys (proj_…), for `envvars.*`
//
// Run with `node --test sdk.test.mjs`. The suite expects a fresh server: it registers a
// deployment in dev and then checks exact run sets, so leftovers from other runs would show up.

import { describe, test, before } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";

import {
  configure,
  auth,
  idempotencyKeys,
  tasks,
  runs,
  batch,
  queues,
  streams,
  envvars,
  TriggerClient,
  ApiError,
  AuthenticationError,
  BadRequestError,
  NotFoundError,
  PermissionDeniedError,
  UnprocessableEntityError,
} from "@trigger.dev/sdk";
// A dependency of the SDK: `envvars.update` outside a task throws in 4.8.3 (it reads an
// undeclared variable), so updates go through the API client itself.
import { apiClientManager } from "@trigger.dev/core/v3";

const baseURL = requireEnv("TRIGGER_API_URL").replace(/\/+$/, "");
const devKey = requireEnv("TRIGGER_SECRET_KEY");
const prodKey = requireEnv("TRIGR_PROD_SECRET_KEY");
const idempotencyOut = requireEnv("TRIGR_IDEMPOTENCY_OUT");
const projectRef = requireEnv("TRIGR_PROJECT_REF");

configure({ baseURL, accessToken: devKey });

/** For calls that are expected to fail: one attempt, no client-side retries. */
const once = { retry: { maxAttempts: 1 } };

const TASK = "sdk-task";
const OTHER = "sdk-other";

/** Every run of TASK created by this file, in creation order. */
const created = [];
/** Run ids of the other task. */
const createdOther = [];

const state = {
  version: undefined,
  runA: undefined, // full options, delayed, idempotency key k1
  tokenA: undefined, // public access token of runA's trigger handle
  batchToken: undefined,
  runB: undefined, // delayed, later rescheduled
  runC: undefined, // queued, later canceled
  replayed: undefined,
  replayedDelayed: undefined, // replay of runC with overrides, delayed
  batchId: undefined,
  batchRuns: [],
  taggedBatchRun: undefined,
};

function requireEnv(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} must be set`);
  return v;
}

function decodeJwtPayload(token) {
  const parts = token.split(".");
  assert.equal(parts.length, 3, `a JWT has three segments: ${token}`);
  for (const p of parts) assert.match(p, /^[A-Za-z0-9_-]+$/, `JWT segment is base64url: ${p}`);
  const header = JSON.parse(Buffer.from(parts[0], "base64url").toString("utf8"));
  assert.equal(header.alg, "HS256");
  return JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8"));
}

/** Asserts that `promise` rejects with an instance of `cls` and the given HTTP status. */
async function rejectsWith(promise, cls, status) {
  let error;
  try {
    await promise;
  } catch (e) {
    error = e;
  }
  assert.ok(error, `expected ${cls.name}, but the call succeeded`);
  assert.ok(
    error instanceof cls,
    `expected ${cls.name}, got ${error?.constructor?.name}: status=${error?.status} message=${error?.message}`,
  );
  assert.ok(error instanceof ApiError);
  assert.equal(error.status, status, `status of ${cls.name}: ${error.message}`);
  assert.equal(typeof error.message, "string");
  assert.ok(error.message.length > 0, "error message is not empty");
  return error;
}

async function collect(pagePromise) {
  const items = [];
  for await (const item of pagePromise) items.push(item);
  return items;
}

function ids(items) {
  return items.map((r) => r.id);
}

function sorted(xs) {
  return [...xs].sort();
}

describe("official @trigger.dev/sdk against trigr", { concurrency: false }, () => {
  before(async () => {
    const response = await fetch(`${baseURL}/api/v1/worker/deployments`, {
      method: "POST",
      headers: { authorization: `Bearer ${devKey}`, "content-type": "application/json" },
      body: JSON.stringify({ tasks: [{ id: TASK }, { id: OTHER }], promote: true }),
    });
    const text = await response.text();
    assert.equal(response.status, 201, `register deployment: ${response.status} ${text}`);
    const body = JSON.parse(text);
    assert.equal(typeof body.version, "string");
    assert.match(body.version, /^\d{8}\.\d+$/);
    state.version = body.version;
  });

  test("tasks.trigger with every option, idempotent repeat, runs.retrieve", async () => {
    const payload = { name: "x", when: new Date(0) };
    const options = {
      tags: ["a", "b"],
      metadata: { m: 1 },
      idempotencyKey: "k1",
      idempotencyKeyTTL: "1h",
      delay: "1h",
      ttl: "10m",
      priority: 5,
      maxAttempts: 2,
      machine: "small-2x",
      concurrencyKey: "ck",
    };
    const before = Date.now();
    const handle = await tasks.trigger(TASK, payload, options);
    assert.match(handle.id, /^run_[A-Za-z0-9]+$/);
    assert.equal(typeof handle.publicAccessToken, "string");
    assert.ok(handle.publicAccessToken.length > 0);
    const claims = decodeJwtPayload(handle.publicAccessToken);
    assert.equal(claims.pub, true, "public access token has pub: true");
    assert.equal(typeof claims.sub, "string", "public access token names the environment (sub)");
    assert.ok(claims.sub.length > 0);
    assert.ok(Array.isArray(claims.scopes), "public access token has scopes");
    assert.ok(claims.scopes.includes(`read:runs:${handle.id}`), `scopes: ${claims.scopes}`);
    assert.ok(claims.exp * 1000 > Date.now(), "token is not expired");
    assert.notEqual(handle.isCached, true, "first trigger is not cached");
    state.runA = handle.id;
    state.tokenA = handle.publicAccessToken;
    created.push(handle.id);

    const again = await tasks.trigger(TASK, payload, options);
    assert.equal(again.id, handle.id, "same idempotency key gives the same run");
    assert.equal(again.isCached, true, "repeat with the same idempotency key is isCached");

    const run = await runs.retrieve(handle.id);
    assert.equal(run.id, handle.id);
    assert.equal(run.status, "DELAYED");
    assert.equal(run.taskIdentifier, TASK);
    assert.deepEqual(run.tags, ["a", "b"]);
    assert.deepEqual(run.metadata, { m: 1 });
    assert.deepEqual(run.payload, { name: "x", when: "1970-01-01T00:00:00.000Z" });
    assert.equal(run.idempotencyKey, "k1");
    assert.equal(run.ttl, "10m");
    assert.equal(run.isQueued, true);
    assert.equal(run.isExecuting, false);
    assert.equal(run.isWaiting, false);
    assert.equal(run.isCompleted, false);
    assert.equal(run.isSuccess, false);
    assert.equal(run.isFailed, false);
    assert.equal(run.isCancelled, false);
    assert.equal(run.isTest, false);
    assert.equal(run.depth, 0);
    assert.equal(run.triggerFunction, "trigger");
    assert.equal(run.attemptCount, 0);
    assert.equal(run.output, undefined);
    assert.equal(typeof run.relatedRuns, "object");
    assert.ok(run.createdAt instanceof Date);
    assert.ok(Math.abs(run.createdAt.getTime() - before) < 60_000, `createdAt ${run.createdAt.toISOString()}`);
    assert.ok(run.delayedUntil instanceof Date, "delayedUntil is set");
    const expected = before + 3600_000;
    assert.ok(
      Math.abs(run.delayedUntil.getTime() - expected) < 60_000,
      `delayedUntil ${run.delayedUntil.toISOString()} should be about ${new Date(expected).toISOString()}`,
    );
    assert.equal(run.version, state.version, "a run triggered after the deployment is locked to it");

    // Tags come back sorted whatever the order they were given in.
    const b = await tasks.trigger(TASK, { kind: "reschedule-me" }, { delay: "2h", tags: ["z", "m"] });
    assert.match(b.id, /^run_/);
    assert.notEqual(b.id, handle.id);
    state.runB = b.id;
    created.push(b.id);
    const runB = await runs.retrieve(b.id);
    assert.equal(runB.status, "DELAYED");
    assert.deepEqual(runB.tags, ["m", "z"]);
    assert.deepEqual(runB.payload, { kind: "reschedule-me" });
    assert.equal(runB.idempotencyKey, undefined);
    assert.equal(runB.ttl, undefined, "no TTL unless asked for");
  });

  test("runs.cancel of a queued run", async () => {
    const c = await tasks.trigger(TASK, { kind: "cancel-me", n: 7 }, { tags: ["cancel"] });
    assert.match(c.id, /^run_/);
    state.runC = c.id;
    created.push(c.id);

    const queued = await runs.retrieve(c.id);
    assert.equal(queued.status, "QUEUED");
    assert.equal(queued.isQueued, true);
    assert.equal(queued.isCompleted, false);
    assert.equal(queued.version, state.version, "a run triggered after the deployment is locked to it");
    assert.equal(queued.delayedUntil, undefined);
    assert.deepEqual(queued.payload, { kind: "cancel-me", n: 7 });

    const canceled = await runs.cancel(c.id);
    assert.equal(canceled.id, c.id);

    const run = await runs.retrieve(c.id);
    assert.equal(run.status, "CANCELED");
    assert.equal(run.isCancelled, true);
    assert.equal(run.isCompleted, true);
    assert.equal(run.isFailed, true);
    assert.equal(run.isSuccess, false);
    assert.equal(run.isQueued, false);
    assert.equal(run.isExecuting, false);

    // Cancelling a finished run is a no-op that still succeeds.
    const twice = await runs.cancel(c.id);
    assert.equal(twice.id, c.id);
    assert.equal((await runs.retrieve(c.id)).status, "CANCELED");
  });

  test("runs.reschedule and runs.replay", async () => {
    const beforeRun = await runs.retrieve(state.runB);
    assert.ok(beforeRun.delayedUntil instanceof Date);

    const t0 = Date.now();
    const rescheduled = await runs.reschedule(state.runB, { delay: "5h" });
    assert.equal(rescheduled.id, state.runB);
    assert.equal(rescheduled.status, "DELAYED");
    assert.ok(rescheduled.delayedUntil instanceof Date);
    assert.notEqual(rescheduled.delayedUntil.getTime(), beforeRun.delayedUntil.getTime());
    assert.ok(
      Math.abs(rescheduled.delayedUntil.getTime() - (t0 + 5 * 3600_000)) < 60_000,
      `delayedUntil ${rescheduled.delayedUntil.toISOString()} should be about 5 h ahead`,
    );
    const after = await runs.retrieve(state.runB);
    assert.equal(after.delayedUntil.getTime(), rescheduled.delayedUntil.getTime());

    // An ISO date works as well.
    const at = new Date(Date.now() + 3 * 3600_000);
    at.setMilliseconds(0);
    const rescheduled2 = await runs.reschedule(state.runB, { delay: at.toISOString() });
    assert.equal(rescheduled2.delayedUntil.getTime(), at.getTime());

    // Only delayed runs can be rescheduled.
    await rejectsWith(runs.reschedule(state.runC, { delay: "1h" }, once), BadRequestError, 400);

    const replay = await runs.replay(state.runC);
    assert.match(replay.id, /^run_/);
    assert.notEqual(replay.id, state.runC);
    state.replayed = replay.id;
    created.push(replay.id);
    const replayed = await runs.retrieve(replay.id);
    assert.equal(replayed.taskIdentifier, TASK);
    assert.deepEqual(replayed.payload, { kind: "cancel-me", n: 7 });
    assert.notEqual(replayed.status, "CANCELED");
    assert.equal(replayed.isCompleted, false);
    assert.deepEqual(replayed.tags, ["cancel"], "replay copies the tags");

    // Replay with overrides (4.8 body): payload, tags, metadata and delay replace the original's.
    const over = await runs.replay(state.runC, {
      payload: { kind: "override", at: new Date(0) },
      tags: ["replayed"],
      metadata: { r: 2 },
      delay: "30m",
    });
    assert.match(over.id, /^run_/);
    assert.ok(![state.runC, replay.id].includes(over.id));
    created.push(over.id);
    const overridden = await runs.retrieve(over.id);
    assert.equal(overridden.taskIdentifier, TASK);
    assert.deepEqual(overridden.payload, { kind: "override", at: "1970-01-01T00:00:00.000Z" });
    assert.deepEqual(overridden.tags, ["replayed"]);
    assert.deepEqual(overridden.metadata, { r: 2 });
    assert.equal(overridden.status, "DELAYED");
    state.replayedDelayed = over.id;
  });

  test("tasks.batchTrigger, batch.retrieve, batch.trigger with mixed tasks", async () => {
    const items = Array.from({ length: 20 }, (_, i) =>
      i === 7 ? { payload: { i }, options: { tags: ["batch-tag"] } } : { payload: { i } },
    );
    const handle = await tasks.batchTrigger(TASK, items);
    assert.match(handle.batchId, /^batch_[A-Za-z0-9]+$/);
    assert.equal(handle.runCount, 20);
    assert.equal(typeof handle.publicAccessToken, "string");
    assert.ok(handle.publicAccessToken.length > 0);
    state.batchId = handle.batchId;
    state.batchToken = handle.publicAccessToken;

    const b = await batch.retrieve(handle.batchId);
    assert.equal(b.id, handle.batchId);
    assert.equal(b.runCount, 20);
    assert.ok(["PENDING", "PROCESSING", "COMPLETED"].includes(b.status), `batch status ${b.status}`);
    assert.ok(b.createdAt instanceof Date);
    assert.deepEqual(b.processing.errors, []);
    assert.equal(b.runs.length, 20, `batch runs: ${JSON.stringify(b.runs)}`);
    assert.equal(new Set(b.runs).size, 20, "run ids are distinct");
    for (const id of b.runs) assert.match(id, /^run_/);

    const retrieved = await Promise.all(b.runs.map((id) => runs.retrieve(id)));
    retrieved.forEach((run, index) => {
      assert.equal(run.id, b.runs[index]);
      assert.equal(run.taskIdentifier, TASK);
      assert.deepEqual(run.payload, { i: index }, `run ${index} of the batch`);
      assert.equal(run.batchId, handle.batchId);
      assert.equal(run.triggerFunction, "batchTrigger");
      assert.equal(run.status, "QUEUED");
      assert.deepEqual(run.tags, index === 7 ? ["batch-tag"] : []);
    });
    state.batchRuns = [...b.runs];
    state.taggedBatchRun = b.runs[7];
    created.push(...b.runs);

    const mixed = await batch.trigger([
      { id: TASK, payload: { m: "a" } },
      { id: OTHER, payload: { m: "b" }, options: { tags: ["other"] } },
    ]);
    assert.match(mixed.batchId, /^batch_/);
    assert.notEqual(mixed.batchId, handle.batchId);
    assert.equal(mixed.runCount, 2);
    const mb = await batch.retrieve(mixed.batchId);
    assert.equal(mb.runs.length, 2);
    const [r0, r1] = await Promise.all(mb.runs.map((id) => runs.retrieve(id)));
    assert.equal(r0.taskIdentifier, TASK);
    assert.deepEqual(r0.payload, { m: "a" });
    assert.equal(r1.taskIdentifier, OTHER);
    assert.deepEqual(r1.payload, { m: "b" });
    assert.deepEqual(r1.tags, ["other"]);
    assert.equal(r0.batchId, mixed.batchId);
    assert.equal(r1.batchId, mixed.batchId);
    created.push(r0.id);
    createdOther.push(r1.id);
  });

  test("runs.list: pagination and filters", async () => {
    assert.ok(created.length >= 25, `runs created so far: ${created.length}`);

    const first = await runs.list({ taskIdentifier: TASK, limit: 2 });
    assert.equal(first.data.length, 2);
    assert.equal(first.hasNextPage(), true);

    const all = await collect(runs.list({ taskIdentifier: TASK, limit: 2 }));
    const seen = ids(all);
    assert.equal(new Set(seen).size, seen.length, "no run appears twice across pages");
    assert.deepEqual(sorted(seen), sorted(created), "the listing holds exactly the runs of the task");
    for (const run of all) {
      assert.equal(run.taskIdentifier, TASK);
      assert.ok(run.createdAt instanceof Date);
      assert.equal(typeof run.env?.id, "string");
      assert.equal(run.env.name, "dev");
    }
    for (let i = 1; i < all.length; i++) {
      assert.ok(
        all[i - 1].createdAt.getTime() >= all[i].createdAt.getTime(),
        "newest first",
      );
    }
    const listedA = all.find((r) => r.id === state.runA);
    assert.equal(listedA.status, "DELAYED");
    assert.deepEqual(listedA.tags, ["a", "b"]);
    assert.deepEqual(listedA.metadata, { m: 1 });
    assert.equal(listedA.idempotencyKey, "k1");

    const other = await collect(runs.list({ taskIdentifier: OTHER }));
    assert.deepEqual(ids(other), createdOther);

    const canceled = await collect(runs.list({ taskIdentifier: TASK, status: "CANCELED" }));
    assert.deepEqual(ids(canceled), [state.runC]);

    const delayed = await collect(runs.list({ status: ["DELAYED"], limit: 10 }));
    assert.deepEqual(sorted(ids(delayed)), sorted([state.runA, state.runB, state.replayedDelayed]));
    for (const r of delayed) assert.equal(r.status, "DELAYED");

    const queuedOrCanceled = await collect(runs.list({ taskIdentifier: TASK, status: ["QUEUED", "CANCELED"] }));
    assert.deepEqual(
      sorted(ids(queuedOrCanceled)),
      sorted(created.filter((id) => ![state.runA, state.runB, state.replayedDelayed].includes(id))),
    );

    const tagA = await collect(runs.list({ tag: "a" }));
    assert.deepEqual(ids(tagA), [state.runA]);

    const tagBatch = await collect(runs.list({ tag: "batch-tag" }));
    assert.deepEqual(ids(tagBatch), [state.taggedBatchRun]);

    const anyTag = await collect(runs.list({ tag: ["a", "batch-tag"] }));
    assert.deepEqual(sorted(ids(anyTag)), sorted([state.runA, state.taggedBatchRun]));

    const byBatch = await collect(runs.list({ batch: state.batchId, limit: 100 }));
    assert.deepEqual(sorted(ids(byBatch)), sorted(state.batchRuns));

    const none = await collect(runs.list({ tag: "no-such-tag" }));
    assert.deepEqual(none, []);

    const recent = await collect(runs.list({ taskIdentifier: TASK, period: "1d", limit: 100 }));
    assert.deepEqual(sorted(ids(recent)), sorted(created));
    const fromBefore = await collect(runs.list({ taskIdentifier: TASK, from: new Date(Date.now() - 3600_000), limit: 100 }));
    assert.deepEqual(sorted(ids(fromBefore)), sorted(created));
    const longAgo = await collect(runs.list({ to: new Date(1000), limit: 100 }));
    assert.deepEqual(longAgo, []);

    await rejectsWith(runs.list({ status: "NOT_A_STATUS" }, once), BadRequestError, 400);
  });

  test("errors: not found, bad key, other environment, too many tags", async () => {
    // A 404 surfaces at once: the server must not ask the client to retry it.
    const t0 = Date.now();
    const notFound = await rejectsWith(runs.retrieve("run_doesnotexist"), NotFoundError, 404);
    const elapsed = Date.now() - t0;
    assert.ok(elapsed < 2500, `NotFoundError took ${elapsed} ms (client retries?)`);
    assert.notEqual(notFound.headers?.["x-should-retry"], "true");
    await rejectsWith(runs.retrieve("run_doesnotexist", once), NotFoundError, 404);
    await rejectsWith(runs.cancel("run_doesnotexist", once), NotFoundError, 404);
    await rejectsWith(batch.retrieve("batch_doesnotexist", once), NotFoundError, 404);

    const wrongKey = "tr_dev_" + "Wrong0Key0Wrong0Key0Wron";
    assert.equal(wrongKey.length, "tr_dev_".length + 24);
    const wrong = new TriggerClient({ baseURL, accessToken: wrongKey });
    await rejectsWith(wrong.runs.retrieve(state.runA, once), AuthenticationError, 401);
    await rejectsWith(wrong.tasks.trigger(TASK, { x: 1 }, {}, once), AuthenticationError, 401);
    await rejectsWith(
      auth.withAuth({ baseURL, accessToken: wrongKey }, () => runs.list({ limit: 1 }, once)),
      AuthenticationError,
      401,
    );

    // The dev key still works after the scoped calls above.
    assert.equal((await runs.retrieve(state.runA)).id, state.runA);

    const prod = new TriggerClient({ baseURL, accessToken: prodKey });
    await rejectsWith(prod.runs.retrieve(state.runA, once), NotFoundError, 404);
    await rejectsWith(prod.runs.cancel(state.runA, once), NotFoundError, 404);
    await rejectsWith(prod.batch.retrieve(state.batchId, once), NotFoundError, 404);
    const prodRuns = await collect(prod.runs.list({ limit: 100 }));
    const leaked = prodRuns.filter((r) => created.includes(r.id) || createdOther.includes(r.id));
    assert.deepEqual(leaked, [], "prod does not list dev runs");
    assert.equal((await runs.retrieve(state.runA)).status, "DELAYED", "prod cancel left the dev run alone");

    // The public access token of a trigger handle reads that run, and nothing else.
    const viaToken = await auth.withAuth({ accessToken: state.tokenA }, () => runs.retrieve(state.runA));
    assert.equal(viaToken.id, state.runA);
    assert.equal(viaToken.status, "DELAYED");
    await rejectsWith(
      auth.withAuth({ accessToken: state.tokenA }, () => runs.retrieve(state.runC, once)),
      PermissionDeniedError,
      403,
    );
    const batchViaToken = await auth.withAuth({ accessToken: state.batchToken }, () => batch.retrieve(state.batchId));
    assert.equal(batchViaToken.id, state.batchId);
    assert.equal(batchViaToken.runs.length, 20);

    // auth.createPublicToken: the SDK asks for claims, then signs the token with the secret key.
    const readOne = await auth.createPublicToken({ scopes: { read: { runs: [state.runA] } } });
    assert.equal(readOne.split(".").length, 3, "a JWT");
    const viaSdkToken = await auth.withAuth({ accessToken: readOne }, () => runs.retrieve(state.runA));
    assert.equal(viaSdkToken.id, state.runA);
    await rejectsWith(
      auth.withAuth({ accessToken: readOne }, () => runs.retrieve(state.runC, once)),
      PermissionDeniedError,
      403,
    );
    const triggerToken = await auth.createTriggerPublicToken(TASK);
    const viaTrigger = await auth.withAuth({ accessToken: triggerToken }, () => tasks.trigger(TASK, { via: "token" }));
    assert.match(viaTrigger.id, /^run_/);
    await rejectsWith(
      auth.withAuth({ accessToken: triggerToken }, () => tasks.trigger(OTHER, { via: "token" }, {}, once)),
      PermissionDeniedError,
      403,
    );

    const elevenTags = Array.from({ length: 11 }, (_, i) => `t${i}`);
    await rejectsWith(tasks.trigger(TASK, { x: 1 }, { tags: elevenTags }, once), UnprocessableEntityError, 422);
    const afterTags = await collect(runs.list({ tag: "t0" }));
    assert.deepEqual(afterTags, [], "a rejected trigger creates no run");
  });

  test("queues: list, retrieve, pause, resume", async () => {
    const all = await collect(queues.list());
    const q = all.find((x) => x.type === "task" && x.name === TASK);
    assert.ok(q, `task queue in ${JSON.stringify(all.map((x) => [x.type, x.name]))}`);
    assert.match(q.id, /^queue_/);
    assert.equal(q.paused, false);
    assert.equal(typeof q.running, "number");
    assert.equal(typeof q.queued, "number");
    assert.ok(q.queued >= 20, `queued runs of ${TASK}: ${q.queued}`);
    assert.ok(all.some((x) => x.type === "task" && x.name === OTHER), "the other task's queue is listed");

    const byName = await queues.retrieve({ type: "task", name: TASK });
    assert.equal(byName.id, q.id);
    assert.equal(byName.name, TASK);
    assert.equal(byName.type, "task");
    const byId = await queues.retrieve(q.id);
    assert.equal(byId.name, TASK);

    const paused = await queues.pause({ type: "task", name: TASK });
    assert.equal(paused.id, q.id);
    assert.equal(paused.paused, true);
    assert.equal((await queues.retrieve({ type: "task", name: TASK })).paused, true);
    assert.equal((await queues.retrieve({ type: "task", name: OTHER })).paused, false);

    // Triggering into a paused queue is accepted; the run waits.
    const h = await tasks.trigger(TASK, { kind: "paused" });
    created.push(h.id);
    assert.equal((await runs.retrieve(h.id)).status, "QUEUED");

    const resumed = await queues.resume({ type: "task", name: TASK });
    assert.equal(resumed.paused, false);
    assert.equal((await queues.retrieve({ type: "task", name: TASK })).paused, false);

    await rejectsWith(queues.retrieve({ type: "task", name: "no-such-task" }, once), NotFoundError, 404);
  });

  test("streams.input(...).send: kept for the run, refused for finished and unknown runs", async () => {
    const approval = streams.input({ id: "approval" });
    const h = await tasks.trigger(TASK, { kind: "input" });
    created.push(h.id);
    await approval.send(h.id, { approved: true, reviewer: "a" });
    // With the run's public access token too.
    await auth.withAuth({ accessToken: h.publicAccessToken }, () =>
      approval.send(h.id, { approved: false }),
    );
    // Both were stored, in order: a third message is number 3, and it reports the version.
    const response = await fetch(`${baseURL}/realtime/v1/streams/${h.id}/input/approval`, {
      method: "POST",
      headers: { authorization: `Bearer ${devKey}`, "content-type": "application/json" },
      body: JSON.stringify({ data: 3, ifVersion: state.version }),
    });
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { ok: true, seq: 3, runVersion: state.version });

    await rejectsWith(approval.send(state.runC, { approved: true }, { requestOptions: once }), BadRequestError, 400);
    await rejectsWith(approval.send("run_doesnotexist", {}, { requestOptions: once }), NotFoundError, 404);
  });

  test("streams.read: an output stream written over the worker protocol, whole and from an index", async () => {
    // In prod, where no other run of this file waits, so the dequeue below gets this run.
    const call = async (method, path, body, headers = {}) => {
      const response = await fetch(`${baseURL}${path}`, {
        method,
        headers: { authorization: `Bearer ${prodKey}`, ...headers },
        body,
      });
      const text = await response.text();
      assert.ok(response.ok, `${method} ${path}: ${response.status} ${text}`);
      const value = text ? JSON.parse(text) : null;
      if (value && typeof value === "object") value.jwt = response.headers.get("x-trigger-jwt");
      return value;
    };
    const json = { "content-type": "application/json" };
    const deployment = await call(
      "POST",
      "/api/v1/worker/deployments",
      JSON.stringify({ tasks: [{ id: "sdk-streams" }], promote: true }),
      json,
    );
    const trigger = await call(
      "POST",
      "/api/v1/tasks/sdk-streams/trigger",
      JSON.stringify({ payload: "{}", options: { payloadType: "application/json" } }),
      json,
    );
    const runId = trigger.id;
    const { runs: dequeued } = await call(
      "POST",
      "/api/v1/worker/dequeue",
      JSON.stringify({ version: deployment.version, maxRuns: 1, waitMs: 5000, start: true }),
      json,
    );
    assert.equal(dequeued.length, 1);
    assert.equal(dequeued[0].runId, runId);
    const lease = dequeued[0].lease;
    const path = `/realtime/v1/streams/${runId}/self/tokens`;
    assert.equal((await call("PUT", path, undefined, { "x-trigr-lease": lease })).version, "v1");
    const words = ["Hello", " ", "world", { done: false }, 42];
    const ndjson = words.map((w) => JSON.stringify(w)).join("\n") + "\n";
    await call("POST", path, ndjson, { "x-trigr-lease": lease, "x-resume-from-chunk": "0" });
    // A resumed writer sends the last two again: nothing is duplicated.
    await call("POST", path, ndjson.split("\n").slice(3).join("\n"), {
      "x-trigr-lease": lease,
      "x-resume-from-chunk": "3",
    });
    await call(
      "POST",
      `/api/v1/worker/runs/${runId}/complete`,
      JSON.stringify({ lease, ok: true, output: null }),
      json,
    );

    const prod = new TriggerClient({ baseURL, accessToken: prodKey });
    const retrieved = await prod.runs.retrieve(runId);
    assert.equal(retrieved.status, "COMPLETED");

    await auth.withAuth({ accessToken: prodKey }, async () => {
      const all = [];
      for await (const chunk of await streams.read(runId, "tokens")) all.push(chunk);
      assert.deepEqual(all, words);
      const tail = [];
      for await (const chunk of await streams.read(runId, "tokens", { startIndex: 3 })) tail.push(chunk);
      assert.deepEqual(tail, words.slice(3));
    });
    // With the run's public access token.
    assert.ok(trigger.jwt, "the trigger answer carries a public access token");
    await auth.withAuth({ accessToken: trigger.jwt }, async () => {
      const all = [];
      for await (const chunk of await streams.read(runId, "tokens", { timeoutInSeconds: 5 })) all.push(chunk);
      assert.deepEqual(all, words);
    });
  });

  test("runs.subscribeToRun, subscribeToRunsWithTag, subscribeToBatch: statuses through completion", async () => {
    // In prod, driving a worker over HTTP (no other run of this file waits there).
    const call = async (method, path, body) => {
      const response = await fetch(`${baseURL}${path}`, {
        method,
        headers: { authorization: `Bearer ${prodKey}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await response.text();
      assert.ok(response.ok, `${method} ${path}: ${response.status} ${text}`);
      return text ? JSON.parse(text) : null;
    };
    const deployment = await call("POST", "/api/v1/worker/deployments", {
      tasks: [{ id: "sdk-sub" }],
      promote: true,
    });
    const trigger = (tags) =>
      call("POST", "/api/v1/tasks/sdk-sub/trigger", {
        payload: JSON.stringify({ n: 1 }),
        options: { payloadType: "application/json", tags },
      });
    const first = await trigger(["sub-one"]);

    await auth.withAuth({ accessToken: prodKey }, async () => {
      const seen = [];
      let lease;
      for await (const run of runs.subscribeToRun(first.id)) {
        assert.equal(run.id, first.id);
        assert.equal(run.taskIdentifier, "sdk-sub");
        assert.deepEqual(run.payload, { n: 1 });
        assert.deepEqual(run.tags, ["sub-one"]);
        if (seen.at(-1) !== run.status) seen.push(run.status);
        if (run.status === "QUEUED" && !lease) {
          const { runs: got } = await call("POST", "/api/v1/worker/dequeue", {
            version: deployment.version,
            maxRuns: 1,
            waitMs: 5000,
            start: true,
          });
          assert.equal(got[0]?.runId, first.id);
          lease = got[0].lease;
        } else if (run.status === "EXECUTING") {
          await call("POST", `/api/v1/worker/runs/${first.id}/complete`, {
            lease,
            ok: true,
            output: { answer: 42 },
          });
        } else if (run.status === "COMPLETED") {
          assert.deepEqual(run.output, { answer: 42 });
          assert.ok(run.finishedAt instanceof Date);
        }
      }
      assert.deepEqual(seen, ["QUEUED", "EXECUTING", "COMPLETED"]);

      // Runs with a tag: two runs appear; canceling one shows up as CANCELED.
      const a = await trigger(["sub-tag", "x"]);
      const b = await trigger(["sub-tag"]);
      await trigger(["other-tag"]);
      const latest = new Map();
      let canceled = false;
      for await (const run of runs.subscribeToRunsWithTag("sub-tag")) {
        latest.set(run.id, run.status);
        if (!canceled && latest.has(a.id) && latest.has(b.id)) {
          canceled = true;
          await call("POST", `/api/v2/runs/${b.id}/cancel`);
        }
        if (latest.get(b.id) === "CANCELED") break;
      }
      assert.deepEqual(sorted([...latest.keys()]), sorted([a.id, b.id]));
      assert.equal(latest.get(a.id), "QUEUED");
      await call("POST", `/api/v2/runs/${a.id}/cancel`);

      // A batch: its runs appear, and their ends.
      const handle = await tasks.batchTrigger("sdk-sub", [{ payload: { n: 2 } }, { payload: { n: 3 } }]);
      const inBatch = new Map();
      let canceledBatch = false;
      for await (const run of runs.subscribeToBatch(handle.batchId)) {
        inBatch.set(run.id, run.status);
        if (!canceledBatch && inBatch.size === 2) {
          canceledBatch = true;
          for (const id of inBatch.keys()) await call("POST", `/api/v2/runs/${id}/cancel`);
        }
        if (inBatch.size === 2 && [...inBatch.values()].every((s) => s === "CANCELED")) break;
      }
      const retrievedBatch = await batch.retrieve(handle.batchId);
      assert.deepEqual(sorted([...inBatch.keys()]), sorted(retrievedBatch.runs));
    });
  });

  test("idempotencyKeys.create: the keys the Rust client makes too", async () => {
    const global = await idempotencyKeys.create(["cross-sdk", "42"], { scope: "global" });
    // Outside a task there is no run: the run and attempt scopes hash like the global one.
    const run = await idempotencyKeys.create("cross-sdk-run");
    const attempt = await idempotencyKeys.create(["cross", "sdk"], { scope: "attempt" });
    for (const key of [global, run, attempt]) assert.match(key, /^[0-9a-f]{64}$/);
    const first = await tasks.trigger(OTHER, { from: "node" }, { idempotencyKey: global });
    const again = await tasks.trigger(OTHER, { from: "node" }, { idempotencyKey: global });
    assert.equal(again.id, first.id);
    writeFileSync(idempotencyOut, JSON.stringify({ global, run, attempt, runId: first.id }));
  });

  test("envvars: list, create, retrieve, update, del, upload; other environments refused", async () => {
    assert.deepEqual(await envvars.list(projectRef, "dev"), []);
    assert.deepEqual(
      await envvars.create(projectRef, "dev", { name: "API_URL", value: "https://a" }),
      { success: true },
    );
    await envvars.create(projectRef, "dev", { name: "SECRET", value: "s", isSecret: true });
    assert.deepEqual(await envvars.list(projectRef, "dev"), [
      { name: "API_URL", value: "https://a", isSecret: false },
      { name: "SECRET", value: "<redacted>", isSecret: true },
    ]);
    assert.deepEqual(await envvars.retrieve(projectRef, "dev", "API_URL"), {
      name: "API_URL",
      value: "https://a",
      isSecret: false,
    });
    const updated = await apiClientManager
      .clientOrThrow()
      .updateEnvVar(projectRef, "dev", "API_URL", { value: "https://b" });
    assert.deepEqual(updated, { success: true });
    assert.equal((await envvars.retrieve(projectRef, "dev", "API_URL")).value, "https://b");
    assert.deepEqual(
      await envvars.upload(projectRef, "dev", { variables: { REGION: "eu", API_URL: "kept" }, override: false }),
      { success: true },
    );
    assert.equal((await envvars.retrieve(projectRef, "dev", "API_URL")).value, "https://b");
    assert.equal((await envvars.retrieve(projectRef, "dev", "REGION")).value, "eu");
    assert.deepEqual(await envvars.del(projectRef, "dev", "REGION"), { success: true });
    await rejectsWith(envvars.retrieve(projectRef, "dev", "REGION", once), NotFoundError, 404);
    await rejectsWith(envvars.list(projectRef, "prod", once), BadRequestError, 400);
    await rejectsWith(envvars.list("proj_aaaaaaaaaaaaaaaaaaaa", "dev", once), BadRequestError, 400);
    // The prod key: its own environment only, the `prod` slug.
    await auth.withAuth({ baseURL, accessToken: prodKey }, async () => {
      assert.deepEqual(await envvars.list(projectRef, "prod"), []);
    });
    await envvars.del(projectRef, "dev", "API_URL");
    await envvars.del(projectRef, "dev", "SECRET");
  });
});
