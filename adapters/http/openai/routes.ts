// The OpenAI-compatible routes: POST /v1/chat/completions, POST /v1/completions (both streaming
// and not) and GET /v1/models. Each request becomes an `interactive` task through the same
// ControlPort as /v2 and the WebSocket, so admission, placement and budgets answer alike; only
// the shapes differ (OpenAI's objects and errors). Auth is control-app's, as for /v2. `n > 1`
// asks for n tasks (choices.ts).

import type { Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { RealClock, type Clock } from "../../../runtime/index.ts";
import { budgetHeaders, inputChars, type CatalogPort, type ControlPort, type ErrorEnvelope, internalError, invalidParams } from "../../../contract/index.ts";
import { readBody } from "./body.ts";
import { runChoices } from "./choices.ts";
import { canceledError, fromEnvelope, openAiError, openAiFail, paramOf, respond } from "./errors.ts";
import { listModels, modelUnavailable } from "./models.ts";
import { completion, finishReason, replyId, usageOf, type ReplyInfo, type ReplyKind } from "./render.ts";
import { fromChat, fromCompletion, type MappedRequest } from "./request.ts";
import { ChatCompletionRequest, CompletionRequest, OPENAI_MAX_BODY_BYTES } from "./schemas.ts";
import { chunkSink, collectTask, createChunkStream, eventStreamResponse } from "./stream.ts";
import { tracedSubmit, type TraceVars } from "../trace.ts";

export const OPENAI_PATHS = { chat: "/v1/chat/completions", completions: "/v1/completions", models: "/v1/models" } as const;

export interface OpenAiRouteOptions {
  port: ControlPort;
  catalog: Pick<CatalogPort, "list" | "get">;
  /** `created` timestamps; real time unless a test injects one. */
  clock?: Clock;
  maxBodyBytes?: number;
}

type Vars = { Variables: { correlationId: string; identity: string } & TraceVars };

export function registerOpenAiRoutes(app: Hono<Vars>, options: OpenAiRouteOptions): void {
  const { port } = options;
  const clock = options.clock ?? new RealClock();
  const maxBody = options.maxBodyBytes ?? OPENAI_MAX_BODY_BYTES;

  // control-app's onError answers a thrown handler with the native envelope (and logs it); /v1
  // clients get the same 500 in OpenAI's shape.
  app.use("/v1/*", async (c, next) => {
    await next();
    if (c.error) c.res = Response.json(openAiError(500, "internal", "internal error").body, { status: 500 });
  });
  app.use(
    "/v1/*",
    bodyLimit({ maxSize: maxBody, onError: (c) => openAiFail(c, invalidParams(`request body exceeds ${maxBody} bytes`), 413) }),
  );

  app.get(OPENAI_PATHS.models, async (c) => c.json({ object: "list", data: await listModels(options) }));

  app.post(OPENAI_PATHS.chat, async (c) => {
    const body = await readBody(c, ChatCompletionRequest);
    return body.ok ? run(c, "chat", fromChat(body.value)) : respond(c, body.reply);
  });

  app.post(OPENAI_PATHS.completions, async (c) => {
    const body = await readBody(c, CompletionRequest);
    return body.ok ? run(c, "text", fromCompletion(body.value)) : respond(c, body.reply);
  });

  async function run(c: Context<Vars>, kind: ReplyKind, mapped: ReturnType<typeof fromChat>): Promise<Response> {
    if (!mapped.ok) return respond(c, openAiError(400, "invalid_params", mapped.message, mapped.param));
    const req: MappedRequest = mapped.value;
    const submit = async (task: MappedRequest["task"]) => {
      const { outcome, trace } = await tracedSubmit(port, task, { correlationId: c.get("correlationId"), identity: c.get("identity") }, { route: `POST ${c.req.path}`, parent: c.get("trace"), startTime: c.get("traceStart") });
      if (trace) c.set("traceResponse", trace);
      if (outcome.ok) for (const [k, v] of Object.entries(budgetHeaders(outcome.budgets))) c.header(k, v);
      return outcome;
    };
    const refuse = async (error: ErrorEnvelope) => {
      if (error.code === "MODEL_NOT_AVAILABLE") return respond(c, await modelUnavailable(options, req.model, error.message));
      return respond(c, fromEnvelope(error, { param: paramOf(error) }));
    };
    if (req.n > 1) return runChoices(c, { port, kind, req, created: Math.floor(clock.now() / 1000), submit, refuse });
    const outcome = await submit(req.task);
    if (!outcome.ok) return refuse(outcome.error);
    const taskId = outcome.admission.task_id;
    const reply: ReplyInfo = { kind, id: replyId(kind, taskId), created: Math.floor(clock.now() / 1000), model: req.model, includeUsage: req.includeUsage };
    const signal = c.req.raw.signal;

    if (req.stream) {
      const stream = createChunkStream(signal);
      const sink = chunkSink({ reply, promptChars: inputChars(req.task), maxTokens: req.task.max_tokens, echo: req.echo }, stream);
      const subscription = await port.subscribe(taskId, sink);
      if (!subscription) return respond(c, fromEnvelope(internalError(`task ${taskId} vanished before its stream could be read`)));
      if ("refused" in subscription) return respond(c, fromEnvelope(subscription.refused));
      stream.attach(subscription);
      return eventStreamResponse(c, stream.body);
    }

    const got = await collectTask(port, taskId, signal);
    // The client left: the task is canceled, and nobody reads this answer.
    if (got.kind === "left") return respond(c, canceledError());
    if (got.kind === "error") return respond(c, fromEnvelope(got.error, { param: paramOf(got.error) }));
    if (got.end.canceled) return respond(c, canceledError());
    const finish = finishReason(got.end, req.task.max_tokens);
    return c.json(completion(reply, req.echo + got.text, finish, usageOf(inputChars(req.task), got.started, got.end), got.end.tool_calls, got.logprobs));
  }
}
