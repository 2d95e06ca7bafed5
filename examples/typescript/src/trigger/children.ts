import { task } from "@trigger.dev/sdk";

export const double = task({
  id: "double",
  run: async (payload: { n: number }) => {
    return { doubled: payload.n * 2 };
  },
});

export const alwaysFails = task({
  id: "always-fails",
  retry: { maxAttempts: 1 },
  run: async (payload: { reason: string }) => {
    throw new Error(`failed on purpose: ${payload.reason}`);
  },
});

/** Waits for one child that succeeds and one that fails, and reports both results. */
export const parentTriggerAndWait = task({
  id: "parent-trigger-and-wait",
  run: async (payload: { n: number }) => {
    const good = await double.triggerAndWait({ n: payload.n });
    const bad = await alwaysFails.triggerAndWait({ reason: "child" });
    return {
      good: good.ok ? { ok: true, output: good.output, id: good.id } : { ok: false },
      bad: bad.ok ? { ok: true } : { ok: false, error: String(bad.error), id: bad.id },
    };
  },
});

/** Runs a batch of children and waits for all of them. */
export const parentBatch = task({
  id: "parent-batch",
  run: async (payload: { values: number[] }) => {
    const result = await double.batchTriggerAndWait(payload.values.map((n) => ({ payload: { n } })));
    return {
      batchId: result.id,
      results: result.runs.map((run) => (run.ok ? run.output.doubled : null)),
    };
  },
});
