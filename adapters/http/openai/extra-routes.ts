// More of the OpenAI-compatible surface, beside routes.ts: GET /v1/models/{id}, POST /v1/embeddings
// (embeddings.ts) and POST /v1/responses (responses-request.ts, responses-render.ts). Registered
// after routes.ts, so its /v1 middleware (OpenAI's 500 shape, the body limit) applies here too.
// /v1/responses becomes an `interactive` task through the same ControlPort as chat completions;
// /v1/embeddings goes through the EmbeddingsPort (one request/response with a pool, no task).

import type { Context, Hono } from "hono";
import { RealClock, type Clock } from "../../../runtime/index.ts";
import { budgetHeaders, type CatalogPort, type ControlPort, type EmbeddingsPort, internalError } from "../../../contract/index.ts";
import { createPulledStream } from "../pulled-stream.ts";
import { readBody, unsupported } from "./body.ts";
import { embeddingsRoute } from "./embeddings.ts";
import { canceledError, fromEnvelope, modelNotFound, openAiError, paramOf, respond } from "./errors.ts";
import { listModels, modelUnavailable } from "./models.ts";
import type { OpenAiRouteOptions } from "./routes.ts";
import { collectTask, eventStreamResponse } from "./stream.ts";
import { fromResponses, refusal, ResponsesRequest, responsesMessages } from "./responses-request.ts";
import { hitLimit, responseEventsSink, responseIds, responseObject, responsesUsage, type ResponseInfo } from "./responses-render.ts";

export const OPENAI_EXTRA_PATHS = { model: "/v1/models/:id{.+}", embeddings: "/v1/embeddings", responses: "/v1/responses" } as const;

export interface OpenAiExtraRouteOptions extends Omit<OpenAiRouteOptions, "maxBodyBytes"> {
  /** Absent: /v1/embeddings answers 404. */
  embeddings?: EmbeddingsPort;
}

type Vars = { Variables: { correlationId: string; identity: string } };

export function registerOpenAiExtraRoutes(app: Hono<Vars>, options: OpenAiExtraRouteOptions): void {
  const clock = options.clock ?? new RealClock();

  app.get(OPENAI_EXTRA_PATHS.model, async (c) => {
    const id = c.req.param("id");
    const model = (await listModels(options)).find((m) => m.id === id);
    return model ? c.json(model) : respond(c, modelNotFound(id));
  });

  app.post(OPENAI_EXTRA_PATHS.embeddings, (c) => embeddingsRoute(c, options.embeddings, options));

  app.post(OPENAI_EXTRA_PATHS.responses, async (c) => {
    const body = await readBody(c, ResponsesRequest);
    if (!body.ok) return respond(c, body.reply);
    const req = body.value;
    const refused = refusal(req);
    if (refused) return respond(c, unsupported(refused.param, refused.message));
    const messages = responsesMessages(req);
    if (!messages.ok) return respond(c, unsupported(messages.refusal.param, messages.refusal.message));
    const mapped = fromResponses(req, messages.messages);
    if (!mapped.ok) {
      const param = mapped.param === "max_tokens" ? "max_output_tokens" : mapped.param === "messages" ? "input" : mapped.param;
      return respond(c, openAiError(400, "invalid_params", mapped.message, param));
    }
    return run(c, req, mapped.value.task, messages.messages.reduce((n, m) => n + (typeof m.content === "string" ? m.content.length : 0), 0));
  });

  async function run(c: Context<Vars>, req: ResponsesRequest, task: Parameters<ControlPort["submit"]>[0], promptChars: number): Promise<Response> {
    const outcome = await options.port.submit(task, { correlationId: c.get("correlationId"), identity: c.get("identity") });
    if (!outcome.ok) {
      if (outcome.error.code === "MODEL_NOT_AVAILABLE") return respond(c, await modelUnavailable(options, req.model, outcome.error.message));
      return respond(c, fromEnvelope(outcome.error, { param: paramOf(outcome.error) }));
    }
    for (const [k, v] of Object.entries(budgetHeaders(outcome.budgets))) c.header(k, v);
    const taskId = outcome.admission.task_id;
    const info: ResponseInfo = {
      ...responseIds(taskId),
      created: Math.floor(clock.now() / 1000),
      model: req.model,
      instructions: req.instructions ?? null,
      maxOutputTokens: req.max_output_tokens ?? null,
      temperature: req.temperature ?? null,
      topP: req.top_p ?? null,
      metadata: req.metadata ?? {},
      promptChars,
      maxTokens: task.max_tokens,
    };
    const signal = c.req.raw.signal;

    if (req.stream) {
      const out = createPulledStream(signal);
      const subscription = await options.port.subscribe(taskId, responseEventsSink(info, out));
      if (!subscription) return respond(c, fromEnvelope(internalError(`task ${taskId} vanished before its stream could be read`)));
      if ("refused" in subscription) return respond(c, fromEnvelope(subscription.refused));
      out.attach(subscription);
      return eventStreamResponse(c, out.body);
    }

    const got = await collectTask(options.port, taskId, signal);
    if (got.kind === "left") return respond(c, canceledError());
    if (got.kind === "error") return respond(c, fromEnvelope(got.error, { param: paramOf(got.error) }));
    if (got.end.canceled) return respond(c, canceledError());
    const status = hitLimit(info, got.end) ? "incomplete" : "completed";
    return c.json(responseObject(info, status, { text: got.text, usage: responsesUsage(info, got.started, got.end), calls: got.end.tool_calls }));
  }
}
