// Session routes over the real sessions actor: 200 with the SessionInfoV2 shape, 404 envelope
// for unknown and expired sessions, DELETE 204 twice.

import { afterEach, expect, test } from "bun:test";
import { Hono } from "hono";
import { ActorSystem, createLogger, SimClock } from "../../runtime/index.ts";
import { sessionsActor, sessionsPort, type SessionsMsg, type SessionsReplies } from "../../actors/control/sessions/index.ts";
import { ErrorEnvelope, SessionInfoV2 } from "../../contract/index.ts";
import { registerSessionRoutes } from "../../adapters/http/routes/sessions.ts";

let system: ActorSystem | undefined;
afterEach(async () => {
  await system?.shutdown();
  system = undefined;
});

async function setup() {
  const clock = new SimClock(0);
  system = new ActorSystem({ name: "sessions-routes-test", clock });
  const ref = await system.spawn<SessionsMsg, SessionsReplies>(
    "control/sessions",
    sessionsActor({ log: createLogger({ clock, sink: () => {} }), ttlMs: 60_000 }),
  );
  const app = new Hono();
  registerSessionRoutes(app, sessionsPort(ref));
  return { clock, ref, app };
}

test("GET answers 200 with the session's info once a task has named it", async () => {
  const { clock, ref, app } = await setup();
  await ref.ask({ type: "begin", session_id: "chat-1", task_id: "t1", reserve_tokens: 64 });
  await ref.ask({ type: "spend", session_id: "chat-1", task_id: "t1", tokens_out: 50, decode_ms: 120 });
  await clock.advance(1_500);

  const res = await app.request("/v2/sessions/chat-1");
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toContain("application/json");
  const body = SessionInfoV2.parse(await res.json());
  expect(body).toEqual({
    session_id: "chat-1",
    ttl_ms_remaining: 58_500,
    turns: 1,
    kv_bytes: 0,
    kv_warmth: false,
    tokens_budget_remaining: 999_950,
    time_budget_remaining_ms: 599_880,
    cost_budget_remaining: 1.9999,
  });
});

test("GET of an unknown or expired session is 404 NOT_FOUND with the error envelope", async () => {
  const { clock, ref, app } = await setup();
  const unknown = await app.request("/v2/sessions/nobody");
  expect(unknown.status).toBe(404);
  expect(ErrorEnvelope.parse(await unknown.json())).toMatchObject({ code: "NOT_FOUND", message: expect.stringContaining("nobody") });

  await ref.ask({ type: "begin", session_id: "s1", task_id: "t1", reserve_tokens: 1 });
  expect((await app.request("/v2/sessions/s1")).status).toBe(200);
  await clock.advance(60_000);
  const expired = await app.request("/v2/sessions/s1");
  expect(expired.status).toBe(404);
  expect(ErrorEnvelope.parse(await expired.json()).code).toBe("NOT_FOUND");
});

test("DELETE answers 204 with no body, twice, and the session is gone", async () => {
  const { ref, app } = await setup();
  await ref.ask({ type: "begin", session_id: "s1", task_id: "t1", reserve_tokens: 1 });
  for (let i = 0; i < 2; i++) {
    const res = await app.request("/v2/sessions/s1", { method: "DELETE" });
    expect(res.status).toBe(204);
    expect(await res.text()).toBe("");
  }
  expect((await app.request("/v2/sessions/s1")).status).toBe(404);
  expect((await app.request("/v2/sessions/never-existed", { method: "DELETE" })).status).toBe(204);
});
