// The admission floor: a bare Bun.serve that parses the JSON body and answers 202 with a small
// JSON, as POST /v2/tasks does, with nothing behind it. What HTTP + JSON alone cost on this machine.
// Usage: bun bench/load/floor.ts --port N

import { parseArgs } from "node:util";

const { values } = parseArgs({ options: { port: { type: "string", default: "0" } } });
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: Number(values.port),
  async fetch(req) {
    const body = (await req.json()) as { model_ref?: unknown };
    if (typeof body.model_ref !== "string") return Response.json({ code: "INVALID_PARAMS" }, { status: 400 });
    const task_id = crypto.randomUUID();
    return Response.json({ task_id, queue_position: 0, predicted_start_ms: 0, backoff_ms: 0, streams: { sse: `/v2/tasks/${task_id}/events` } }, { status: 202 });
  },
});
console.log(JSON.stringify({ event: "listening", port: server.port }));
process.on("SIGTERM", () => process.exit(0));
