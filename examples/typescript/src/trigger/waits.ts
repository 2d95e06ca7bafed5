import { logger, metadata, task, wait } from "@trigger.dev/sdk";

/** Waits the given number of seconds with `wait.for` and reports how late it resumed. */
export const waitFor = task({
  id: "wait-for",
  run: async (payload: { seconds: number }) => {
    const before = Date.now();
    const dueAt = before + payload.seconds * 1000;
    await wait.for({ seconds: payload.seconds });
    const resumedAt = Date.now();
    logger.info("resumed", { seconds: payload.seconds, lateMs: resumedAt - dueAt });
    return { seconds: payload.seconds, dueAt, resumedAt, lateMs: resumedAt - dueAt };
  },
});

/** Waits until a date some seconds ahead with `wait.until`. */
export const waitUntil = task({
  id: "wait-until",
  run: async (payload: { seconds: number }) => {
    const dueAt = Date.now() + payload.seconds * 1000;
    await wait.until({ date: new Date(dueAt) });
    const resumedAt = Date.now();
    return { dueAt, resumedAt, lateMs: resumedAt - dueAt };
  },
});

/**
 * Waits for a waitpoint token made outside the run. The token's id comes in the payload; the
 * run says in its metadata that it is about to wait, so whoever completes it can tell.
 */
export const waitForToken = task({
  id: "wait-for-token",
  run: async (payload: { tokenId: string }) => {
    metadata.set("waitingFor", payload.tokenId);
    await metadata.flush();
    const result = await wait.forToken<{ approved: boolean; by?: string }>(payload.tokenId);
    if (result.ok) {
      return { ok: true, output: result.output };
    }
    return { ok: false, error: result.error.message };
  },
});

/** Makes its own token with a timeout and waits for it, to show what a timed-out token gives. */
export const tokenTimeout = task({
  id: "token-timeout",
  run: async (payload: { timeout: string }) => {
    const token = await wait.createToken({ timeout: payload.timeout, tags: ["token-timeout"] });
    const started = Date.now();
    const result = await wait.forToken(token);
    return {
      tokenId: token.id,
      ok: result.ok,
      error: result.ok ? null : result.error.message,
      waitedMs: Date.now() - started,
    };
  },
});
