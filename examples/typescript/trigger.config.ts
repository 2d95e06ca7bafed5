import { defineConfig } from "@trigger.dev/sdk";

export default defineConfig({
  // Your project's reference (`trigr projects list`). `trigger.dev dev` takes TRIGGER_PROJECT_REF
  // or --project-ref over this value when either is given.
  project: "proj_replace_with_your_project_ref",
  dirs: ["./src/trigger"],
  maxDuration: 300,
  retries: {
    enabledInDev: true,
    default: {
      maxAttempts: 3,
      minTimeoutInMs: 1000,
      maxTimeoutInMs: 10_000,
      factor: 2,
      randomize: true,
    },
  },
});
