// Triggers every task of this project with the official SDK and prints one JSON line per check:
//   {"check": "<name>", "ok": true|false, "runId": "run_…", "got": {…}, "want": "…"}
// then a last line {"summary": {"passed": n, "failed": m, "failedChecks": [...]}}.
//
// Needs `trigger.dev dev` running for this project against the same server, and:
//   TRIGGER_API_URL     the server's URL (default https://api.trigger.dev)
//   TRIGGER_SECRET_KEY  the secret key of the environment the dev CLI serves (tr_dev_…)
//
// `node scripts/run-all.mjs` runs every check, six at a time (RUN_ALL_PARALLEL);
// `node scripts/run-all.mjs wait-long cancel` runs the named ones. The exit code is 0 when every
// check passed. RUN_ALL_CHECK_TIMEOUT_MS bounds each wait for a run (default 120000).

import http from "node:http";
import { configure, idempotencyKeys, runs, streams, tasks, wait } from "@trigger.dev/sdk";

const baseURL = (process.env.TRIGGER_API_URL ?? "https://api.trigger.dev").replace(/\/+$/, "");
const accessToken = process.env.TRIGGER_SECRET_KEY;
if (!accessToken) {
  console.error("TRIGGER_SECRET_KEY is not set");
  process.exit(2);
}
configure({ baseURL, accessToken });

const CHECK_TIMEOUT_MS = Number(process.env.RUN_ALL_CHECK_TIMEOUT_MS ?? 120_000);
const nonce = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls a run until `done(run)` holds; returns the last run seen. */
async function waitForRun(runId, done, what, timeoutMs = CHECK_TIMEOUT_MS) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const run = await runs.retrieve(runId);
    if (done(run)) return run;
    if (Date.now() > deadline) {
      throw new Error(`run ${runId} never ${what} (last status ${run.status})`);
    }
    await sleep(200);
  }
}

// `isCompleted` stays false for TIMED_OUT and EXPIRED runs, which are final all the same.
const FINAL = new Set(["COMPLETED", "CANCELED", "FAILED", "CRASHED", "SYSTEM_FAILURE", "EXPIRED", "TIMED_OUT"]);
const isFinal = (run) => run.isCompleted || FINAL.has(run.status);
const finished = (runId) => waitForRun(runId, isFinal, "finished");

/** Waits until the run says (in its metadata) that it waits, and its status shows it, at most a few seconds for the latter. */
async function waiting(runId, key, value) {
  await waitForRun(runId, (run) => run.metadata?.[key] === value || isFinal(run), `set metadata ${key}`);
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline) {
    const run = await runs.retrieve(runId);
    if (run.status === "WAITING" || isFinal(run)) return run.status;
    await sleep(100);
  }
  return (await runs.retrieve(runId)).status;
}

function summary(run) {
  return {
    status: run.status,
    output: run.output,
    error: run.error,
    attemptCount: run.attemptCount,
    tags: run.tags,
    metadata: run.metadata,
  };
}

/** A small HTTP server the workflow's actions call; counts requests per path. */
async function startActionServer() {
  const hits = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      hits.push(`${req.method} ${req.url}`);
      if (req.url.startsWith("/fail/")) {
        res.writeHead(500, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: "failing on purpose" }));
        return;
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ path: req.url, received: body ? JSON.parse(body) : null }));
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return { url: `http://127.0.0.1:${port}`, hits, close: () => server.close() };
}

const checks = {
  async "wait-short"() {
    const handle = await tasks.trigger("wait-for", { seconds: 2 });
    const run = await runs.poll(handle.id, { pollIntervalMs: 200 });
    const ok = run.status === "COMPLETED" && run.output?.seconds === 2 && run.output.lateMs >= -50;
    return { ok, runId: handle.id, got: summary(run), want: "COMPLETED after a local 2 s wait" };
  },

  async "wait-long"() {
    const handle = await tasks.trigger("wait-for", { seconds: 6 });
    const run = await finished(handle.id);
    const late = run.output?.lateMs;
    const ok = run.status === "COMPLETED" && late >= -250 && late < 1000;
    return { ok, runId: handle.id, got: summary(run), want: "COMPLETED, resumed within 1 s after 6 s" };
  },

  async "wait-until"() {
    const handle = await tasks.trigger("wait-until", { seconds: 6 });
    const run = await finished(handle.id);
    const late = run.output?.lateMs;
    const ok = run.status === "COMPLETED" && late >= -250 && late < 1000;
    return { ok, runId: handle.id, got: summary(run), want: "COMPLETED, resumed within 1 s of the date" };
  },

  async "token-completed-by-api"() {
    const token = await wait.createToken({ timeout: "2m", tags: [`driver-${nonce}`] });
    const handle = await tasks.trigger("wait-for-token", { tokenId: token.id });
    const statusBefore = await waiting(handle.id, "waitingFor", token.id);
    await wait.completeToken(token.id, { approved: true, by: "api" });
    const run = await finished(handle.id);
    const ok =
      run.status === "COMPLETED" && run.output?.ok === true && run.output.output?.by === "api";
    return { ok, runId: handle.id, got: { statusBefore, ...summary(run) }, want: "the token's data as output" };
  },

  async "token-completed-by-callback"() {
    const token = await wait.createToken({ timeout: "2m" });
    const handle = await tasks.trigger("wait-for-token", { tokenId: token.id });
    const statusBefore = await waiting(handle.id, "waitingFor", token.id);
    const response = await fetch(token.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ approved: true, by: "callback" }),
    });
    const run = await finished(handle.id);
    const ok =
      response.ok &&
      run.status === "COMPLETED" &&
      run.output?.ok === true &&
      run.output.output?.by === "callback";
    return {
      ok,
      runId: handle.id,
      got: { callbackStatus: response.status, statusBefore, ...summary(run) },
      want: "the body POSTed to the callback URL as output",
    };
  },

  async "token-timeout"() {
    const handle = await tasks.trigger("token-timeout", { timeout: "3s" });
    const run = await finished(handle.id);
    const ok =
      run.status === "COMPLETED" &&
      run.output?.ok === false &&
      typeof run.output.error === "string" &&
      run.output.waitedMs >= 2500;
    return { ok, runId: handle.id, got: summary(run), want: "ok false with a timeout error after about 3 s" };
  },

  async "trigger-and-wait"() {
    const handle = await tasks.trigger("parent-trigger-and-wait", { n: 21 });
    const run = await finished(handle.id);
    const ok =
      run.status === "COMPLETED" &&
      run.output?.good?.ok === true &&
      run.output.good.output?.doubled === 42 &&
      run.output.bad?.ok === false &&
      /failed on purpose/.test(run.output.bad.error ?? "");
    return { ok, runId: handle.id, got: summary(run), want: "good child 42, failing child ok false" };
  },

  async "batch-trigger-and-wait"() {
    const handle = await tasks.trigger("parent-batch", { values: [1, 2, 3, 4] });
    const run = await finished(handle.id);
    const ok =
      run.status === "COMPLETED" && JSON.stringify(run.output?.results) === JSON.stringify([2, 4, 6, 8]);
    return { ok, runId: handle.id, got: summary(run), want: "results [2,4,6,8] in item order" };
  },

  async metadata() {
    const handle = await tasks.trigger("with-progress", { steps: 3 });
    const run = await finished(handle.id);
    const m = run.metadata ?? {};
    const ok =
      run.status === "COMPLETED" &&
      m.status === "done" &&
      m.progress === 1 &&
      m.step === 3 &&
      m.starts === 1 &&
      JSON.stringify(m.log) === JSON.stringify(["started"]);
    return { ok, runId: handle.id, got: summary(run), want: "metadata status done, progress 1, step 3, starts 1, log [started]" };
  },

  async "output-stream"() {
    const text = "durable tasks on one binary";
    const handle = await tasks.trigger("stream-words", { text });
    const run = await finished(handle.id);
    const chunks = [];
    for await (const chunk of await streams.read(handle.id, "words", { timeoutInSeconds: 5 })) {
      chunks.push(chunk);
    }
    const ok = run.status === "COMPLETED" && chunks.join(" ") === text;
    return { ok, runId: handle.id, got: { chunks, ...summary(run) }, want: text.split(" ") };
  },

  async "input-stream"() {
    const handle = await tasks.trigger("wait-for-approval", { timeout: "2m" });
    const statusBefore = await waiting(handle.id, "waitingFor", "approval");
    await streams.input({ id: "approval" }).send(handle.id, { approved: true, by: "driver" });
    const run = await finished(handle.id);
    const ok = run.status === "COMPLETED" && run.output?.ok === true && run.output.output?.by === "driver";
    return { ok, runId: handle.id, got: { statusBefore, ...summary(run) }, want: "the sent value as output" };
  },

  async idempotency() {
    const inside = await tasks.trigger("idempotent-parent", { key: `child-${nonce}` });
    const run = await finished(inside.id);
    const key = await idempotencyKeys.create(["driver", nonce], { scope: "global" });
    const first = await tasks.trigger("double", { n: 5 }, { idempotencyKey: key });
    const second = await tasks.trigger("double", { n: 6 }, { idempotencyKey: key });
    const child = run.output ? await finished(run.output.first) : undefined;
    const ok =
      run.status === "COMPLETED" &&
      run.output.first === run.output.second &&
      run.output.runScopedKey !== run.output.globalKey &&
      first.id === second.id &&
      child?.output?.doubled === 2;
    return {
      ok,
      runId: inside.id,
      got: { inside: summary(run), outside: [first.id, second.id], child: child && summary(child) },
      want: "one run per key, inside and outside a task",
    };
  },

  async tags() {
    const handle = await tasks.trigger("tagged", {}, { tags: [`from-driver`, `nonce-${nonce}`] });
    const run = await finished(handle.id);
    const ok =
      run.status === "COMPLETED" &&
      run.output?.tagsAtStart?.includes("from-driver") &&
      ["from-driver", "added-inside"].every((tag) => run.tags.includes(tag));
    return { ok, runId: handle.id, got: summary(run), want: "tags from-driver and added-inside" };
  },

  async "schema-task"() {
    // A server may refuse the bad payload when it is triggered (it knows the task's schema), or
    // make the run, which then fails in the task without retrying.
    let bad;
    let badRun;
    let refused;
    try {
      bad = await tasks.trigger("greet", { name: 5, times: 0 });
      badRun = await finished(bad.id);
    } catch (error) {
      refused = { status: error.status, message: error.message };
    }
    const good = await tasks.trigger("greet", { name: "trigr", times: 2 });
    const goodRun = await finished(good.id);
    const badOk = refused
      ? refused.status >= 400 && refused.status < 500 && /schema/i.test(refused.message ?? "")
      : badRun.status === "FAILED" && (badRun.attemptCount === undefined || badRun.attemptCount <= 1);
    const ok = badOk && goodRun.status === "COMPLETED" && goodRun.output?.greeting === "hello trigr, hello trigr";
    return {
      ok,
      runId: good.id,
      got: { bad: refused ? { refused } : summary(badRun), badRunId: bad?.id, good: summary(goodRun) },
      want: "a bad payload refused (4xx) or FAILED without retries, a good one COMPLETED",
    };
  },

  async retries() {
    const handle = await tasks.trigger("flaky", {});
    const run = await finished(handle.id);
    const ok =
      run.status === "COMPLETED" &&
      run.output?.attempt === 2 &&
      (run.attemptCount === undefined || run.attemptCount === 2);
    return { ok, runId: handle.id, got: summary(run), want: "COMPLETED on attempt 2" };
  },

  async "max-duration"() {
    const handle = await tasks.trigger("too-slow", {});
    const run = await finished(handle.id);
    const ok = run.status === "TIMED_OUT" || (run.status === "FAILED" && /MAX_DURATION/i.test(JSON.stringify(run.error)));
    return { ok, runId: handle.id, got: summary(run), want: "TIMED_OUT after 5 s" };
  },

  async cancel() {
    const handle = await tasks.trigger("cancellable", {});
    await waitForRun(handle.id, (run) => run.status === "EXECUTING" || isFinal(run), "started executing");
    await runs.cancel(handle.id);
    const run = await finished(handle.id);
    return { ok: run.status === "CANCELED", runId: handle.id, got: summary(run), want: "CANCELED" };
  },

  async "workflow-plan"() {
    const actions = await startActionServer();
    try {
      const plan = {
        id: `plan-${nonce}`,
        actions: [
          { id: "fetch", method: "GET", url: `${actions.url}/ok/fetch`, dependsOn: [] },
          { id: "store", method: "POST", url: `${actions.url}/ok/store`, body: { from: "fetch" }, dependsOn: ["fetch"] },
          { id: "notify", method: "POST", url: `${actions.url}/ok/notify`, dependsOn: ["fetch", "store"] },
        ],
      };
      const handle = await tasks.trigger("execute-plan", { plan });
      const run = await finished(handle.id);
      const results = run.output?.results ?? {};
      const ok =
        run.status === "COMPLETED" &&
        run.output?.status === "completed" &&
        run.output.executionId === handle.id &&
        ["fetch", "store", "notify"].every((id) => results[id]?.status === "completed") &&
        results.store.output?.body?.received?.from === "fetch" &&
        JSON.stringify(actions.hits) ===
          JSON.stringify(["GET /ok/fetch", "POST /ok/store", "POST /ok/notify"]);
      return { ok, runId: handle.id, got: { hits: actions.hits, ...summary(run) }, want: "3 actions completed in order" };
    } finally {
      actions.close();
    }
  },

  async "workflow-plan-failure"() {
    const actions = await startActionServer();
    try {
      const plan = {
        id: `plan-fail-${nonce}`,
        actions: [
          { id: "fetch", method: "GET", url: `${actions.url}/ok/fetch`, dependsOn: [] },
          { id: "charge", method: "POST", url: `${actions.url}/fail/charge`, dependsOn: ["fetch"] },
          { id: "receipt", method: "POST", url: `${actions.url}/ok/receipt`, dependsOn: ["charge"] },
        ],
      };
      const handle = await tasks.trigger("execute-plan", { plan });
      const run = await finished(handle.id);
      const results = run.output?.results ?? {};
      const chargeHits = actions.hits.filter((hit) => hit === "POST /fail/charge").length;
      const ok =
        run.status === "COMPLETED" &&
        run.output?.status === "failed" &&
        results.fetch?.status === "completed" &&
        results.charge?.status === "failed" &&
        results.receipt?.status === "skipped" &&
        chargeHits === 2 &&
        !actions.hits.includes("POST /ok/receipt");
      return {
        ok,
        runId: handle.id,
        got: { hits: actions.hits, ...summary(run) },
        want: "charge failed after 2 attempts, receipt skipped, plan status failed",
      };
    } finally {
      actions.close();
    }
  },
};

async function runCheck(name) {
  const started = Date.now();
  try {
    const result = await Promise.race([
      checks[name](),
      sleep(CHECK_TIMEOUT_MS + 10_000).then(() => {
        throw new Error(`timed out after ${CHECK_TIMEOUT_MS + 10_000} ms`);
      }),
    ]);
    return { check: name, ms: Date.now() - started, ...result };
  } catch (error) {
    return { check: name, ms: Date.now() - started, ok: false, error: String(error?.stack ?? error) };
  }
}

const wanted = process.argv.slice(2);
const unknown = wanted.filter((name) => !(name in checks));
if (unknown.length > 0) {
  console.error(`unknown checks: ${unknown.join(", ")}; known: ${Object.keys(checks).join(", ")}`);
  process.exit(2);
}
const names = wanted.length > 0 ? wanted : Object.keys(checks);
// A parent waiting for its children keeps its slot in the dev CLI, so running every check at
// once could fill the CLI's slots (`maxConcurrentRuns`) with parents whose children never start.
const parallel = Math.max(1, Number(process.env.RUN_ALL_PARALLEL ?? 6));
const queue = [...names];
const results = [];
await Promise.all(
  Array.from({ length: Math.min(parallel, queue.length) }, async () => {
    for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
      const result = await runCheck(name);
      console.log(JSON.stringify(result));
      results.push(result);
    }
  }),
);
const failed = results.filter((result) => !result.ok).map((result) => result.check);
console.log(JSON.stringify({ summary: { passed: results.length - failed.length, failed: failed.length, failedChecks: failed } }));
process.exit(failed.length === 0 ? 0 : 1);
