import { logger, metadata, streams, task, wait } from "@trigger.dev/sdk";

/**
 * Reports progress in the run's metadata while it works. The changes made as the run ends are
 * `set`s: when a periodic flush is under way as a run ends, the SDK (4.8.3) can send its last
 * changes twice, in a flush while its process stops and again with the completion, and a second
 * `set` changes nothing where a second `append` or `increment` would.
 */
export const withProgress = task({
  id: "with-progress",
  run: async (payload: { steps: number }) => {
    metadata.set("status", "started").set("progress", 0).increment("starts", 1).append("log", "started");
    await metadata.flush();
    for (let step = 1; step <= payload.steps; step++) {
      await wait.for({ seconds: 0.2 });
      metadata.set("progress", step / payload.steps).set("step", step);
    }
    metadata.set("status", "done");
    logger.info("progress finished", { steps: payload.steps });
    console.log(`with-progress finished ${payload.steps} steps`);
    return { steps: payload.steps };
  },
});

async function* words(text: string) {
  for (const word of text.split(" ")) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    yield word;
  }
}

/** Streams words as they are made, for a reader outside the run. */
export const streamWords = task({
  id: "stream-words",
  run: async (payload: { text: string }) => {
    const { waitUntilComplete } = streams.pipe("words", words(payload.text));
    await waitUntilComplete();
    return { words: payload.text.split(" ").length };
  },
});

const approval = streams.input<{ approved: boolean; by: string }>({ id: "approval" });

/** Waits for a value sent to its input stream from outside. */
export const waitForApproval = task({
  id: "wait-for-approval",
  run: async (payload: { timeout: string }) => {
    metadata.set("waitingFor", "approval");
    await metadata.flush();
    const result = await approval.wait({ timeout: payload.timeout });
    if (result.ok) {
      return { ok: true, output: result.output };
    }
    return { ok: false, error: result.error.message };
  },
});
