import { logger, metadata, schemaTask, task } from "@trigger.dev/sdk";
import { z } from "zod";

// A plan is a list of HTTP actions with dependencies. The plan task runs them in dependency
// order, each as a child run of `http-action` awaited with `triggerAndWait`, and checks `.ok`
// on every result: a failed action fails the plan and skips what depends on it. The platform
// keeps the state: the plan run's id is the execution id, its output the final state.

export const HttpActionSchema = z.object({
  id: z.string().min(1),
  method: z.enum(["GET", "POST", "PUT", "DELETE"]).default("GET"),
  url: z.string().url(),
  body: z.record(z.string(), z.unknown()).optional(),
  dependsOn: z.array(z.string()).default([]),
});

export const ExecutionPlanSchema = z.object({
  id: z.string().min(1),
  actions: z.array(HttpActionSchema).min(1),
});

export type HttpAction = z.infer<typeof HttpActionSchema>;
export type ExecutionPlan = z.infer<typeof ExecutionPlanSchema>;

export type ActionResult = {
  actionId: string;
  status: "completed" | "failed" | "skipped";
  output?: { status: number; body: unknown };
  error?: { message: string; code?: string };
  startedAt: string;
  completedAt: string;
  duration: number;
};

export type WorkflowState = {
  executionId: string;
  planId: string;
  status: "completed" | "failed";
  startedAt: string;
  completedAt: string;
  results: Record<string, ActionResult>;
};

/** The actions in an order where each comes after the ones it depends on; throws on a cycle. */
export function dependencyOrder(actions: HttpAction[]): HttpAction[] {
  const byId = new Map(actions.map((action) => [action.id, action]));
  for (const action of actions) {
    for (const dep of action.dependsOn) {
      if (!byId.has(dep)) {
        throw new Error(`action ${action.id} depends on unknown action ${dep}`);
      }
    }
  }
  const order: HttpAction[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (action: HttpAction, path: string[]) => {
    const seen = state.get(action.id);
    if (seen === "done") return;
    if (seen === "visiting") {
      throw new Error(`circular dependency: ${[...path, action.id].join(" -> ")}`);
    }
    state.set(action.id, "visiting");
    for (const dep of action.dependsOn) visit(byId.get(dep)!, [...path, action.id]);
    state.set(action.id, "done");
    order.push(action);
  };
  for (const action of actions) visit(action, []);
  return order;
}

/** Executes one HTTP action; a non-2xx answer is an error, retried once. */
export const httpAction = task({
  id: "http-action",
  retry: { maxAttempts: 2, minTimeoutInMs: 200, maxTimeoutInMs: 500, factor: 1 },
  run: async (payload: { action: HttpAction; executionId: string; planId: string }) => {
    const { action } = payload;
    const response = await fetch(action.url, {
      method: action.method,
      headers: action.body ? { "content-type": "application/json" } : undefined,
      body: action.body ? JSON.stringify(action.body) : undefined,
    });
    const text = await response.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // keep the text
    }
    if (!response.ok) {
      throw new Error(`${action.method} ${action.url} answered ${response.status}`);
    }
    return { status: response.status, body };
  },
});

/** Runs a plan's actions in dependency order and returns the workflow's final state. */
export const executePlan = schemaTask({
  id: "execute-plan",
  schema: z.object({ plan: ExecutionPlanSchema }),
  run: async ({ plan }, { ctx }): Promise<WorkflowState> => {
    const executionId = ctx.run.id;
    const startedAt = new Date().toISOString();
    const order = dependencyOrder(plan.actions);
    const results: Record<string, ActionResult> = {};
    metadata.set("planId", plan.id).set("done", 0).set("total", order.length);

    for (const action of order) {
      const blocked = action.dependsOn.filter((dep) => results[dep]?.status !== "completed");
      const actionStart = Date.now();
      if (blocked.length > 0) {
        results[action.id] = {
          actionId: action.id,
          status: "skipped",
          error: { message: `skipped: ${blocked.join(", ")} did not complete`, code: "DEPENDENCY_FAILED" },
          startedAt: new Date(actionStart).toISOString(),
          completedAt: new Date(actionStart).toISOString(),
          duration: 0,
        };
        continue;
      }
      const result = await httpAction.triggerAndWait({ action, executionId, planId: plan.id });
      const completedAt = Date.now();
      if (result.ok) {
        results[action.id] = {
          actionId: action.id,
          status: "completed",
          output: result.output,
          startedAt: new Date(actionStart).toISOString(),
          completedAt: new Date(completedAt).toISOString(),
          duration: completedAt - actionStart,
        };
      } else {
        logger.warn("action failed", { actionId: action.id, error: String(result.error) });
        results[action.id] = {
          actionId: action.id,
          status: "failed",
          error: { message: String(result.error) },
          startedAt: new Date(actionStart).toISOString(),
          completedAt: new Date(completedAt).toISOString(),
          duration: completedAt - actionStart,
        };
      }
      metadata.increment("done", 1);
    }

    const failed = Object.values(results).some((r) => r.status !== "completed");
    return {
      executionId,
      planId: plan.id,
      status: failed ? "failed" : "completed",
      startedAt,
      completedAt: new Date().toISOString(),
      results,
    };
  },
});
