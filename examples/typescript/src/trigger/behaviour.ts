import { idempotencyKeys, logger, schemaTask, tags, task } from "@trigger.dev/sdk";
import { z } from "zod";
import { double } from "./children";

/** Triggers the same child twice with one idempotency key: both triggers name one run. */
export const idempotentParent = task({
  id: "idempotent-parent",
  run: async (payload: { key: string }) => {
    const key = await idempotencyKeys.create(payload.key);
    const first = await double.trigger({ n: 1 }, { idempotencyKey: key });
    const second = await double.trigger({ n: 2 }, { idempotencyKey: key });
    const global = await idempotencyKeys.create(payload.key, { scope: "global" });
    return { first: first.id, second: second.id, runScopedKey: key, globalKey: global };
  },
});

/** Adds a tag from inside the run, next to the ones it was triggered with. */
export const tagged = task({
  id: "tagged",
  run: async (_payload: Record<string, never>, { ctx }) => {
    await tags.add("added-inside");
    return { tagsAtStart: ctx.run.tags };
  },
});

/** A payload that does not match the schema fails the run before `run` is called. */
export const greet = schemaTask({
  id: "greet",
  schema: z.object({ name: z.string().min(1), times: z.number().int().positive() }),
  run: async (payload) => {
    return { greeting: Array(payload.times).fill(`hello ${payload.name}`).join(", ") };
  },
});

/** Fails its first attempt and succeeds on the next. */
export const flaky = task({
  id: "flaky",
  retry: { maxAttempts: 3, minTimeoutInMs: 200, maxTimeoutInMs: 500, factor: 1, randomize: false },
  run: async (_payload: Record<string, never>, { ctx }) => {
    logger.info("attempt", { attempt: ctx.attempt.number });
    if (ctx.attempt.number === 1) {
      throw new Error("the first attempt fails");
    }
    return { attempt: ctx.attempt.number };
  },
});

/** Works longer than its maxDuration allows. */
export const tooSlow = task({
  id: "too-slow",
  maxDuration: 5,
  retry: { maxAttempts: 1 },
  run: async () => {
    await new Promise((resolve) => setTimeout(resolve, 30_000));
    return { finished: true };
  },
});

/** Waits long enough to be cancelled from outside. */
export const cancellable = task({
  id: "cancellable",
  run: async () => {
    console.log("cancellable started");
    await new Promise((resolve) => setTimeout(resolve, 60_000));
    return { finished: true };
  },
});
