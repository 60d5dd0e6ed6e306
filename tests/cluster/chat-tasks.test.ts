// Chat tasks through every client API of a real in-process cluster (mock engine): the WebSocket's
// submit, POST /v2/tasks + SSE, and /v1/chat/completions all carry the messages to the engine,
// which renders them with its template (the mock's fixed one), so the three give the stream that
// the rendered prompt gives; the transcript keeps no message text.

import { afterEach, expect, test } from "bun:test";
import { MockEngine, renderMockChat } from "../../adapters/engines/index.ts";
import { mockPool, startCluster, type Cluster } from "../harness/cluster.ts";
import { collect, submitTask } from "../harness/sse.ts";
import { openWs } from "../harness/ws.ts";

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

const messages = [
  { role: "system", content: "Be brief." },
  { role: "user", content: [{ type: "text", text: "Hi " }, { type: "text", text: "there" }] },
];
const rendered = renderMockChat([{ role: "system", content: "Be brief." }, { role: "user", content: "Hi there" }]);

test("WebSocket, SSE and the OpenAI API give a chat the engine's rendering, and the same tokens", async () => {
  cluster = await startCluster({ nodes: [{ id: "n1", pools: [mockPool("p0")] }], engineFactory: (_p, _r, clock) => new MockEngine({ clock, slots: 2 }) });
  await cluster.ready();
  const text = (frames: { event?: string; type?: string; data: any }[]) => frames.filter((f) => (f.event ?? f.type) === "token").map((f) => f.data.t).join("");

  const plain = await submitTask(cluster.url, { model_ref: "tiny", prompt: rendered, max_tokens: 6, seed: 1 });
  const expected = text((await collect(`${cluster.url}${plain.json.streams.sse}`)).frames);
  expect(expected.length).toBeGreaterThan(0);

  const sse = await submitTask(cluster.url, { task_id: "chat-sse", model_ref: "tiny", messages, max_tokens: 6, seed: 1 });
  expect(sse.status).toBe(202);
  const frames = (await collect(`${cluster.url}${sse.json.streams.sse}`)).frames;
  expect(text(frames)).toBe(expected);
  // The mock counts the rendered chat's characters as its prompt tokens.
  expect(frames[0]).toMatchObject({ event: "started", data: { tokens_in: rendered.length } });

  const ws = await openWs(cluster.url);
  try {
    ws.send({ type: "submit", task: { task_id: "chat-ws", model_ref: "tiny", messages, max_tokens: 6, seed: 1 } });
    const events = (await ws.untilEnd("chat-ws")).filter((f) => f.task_id === "chat-ws" && "data" in f);
    expect(text(events)).toBe(expected);
    ws.send({ type: "submit", task: { task_id: "both", model_ref: "tiny", prompt: "p", messages, max_tokens: 1 } });
    // A frame the schema refuses is answered with an error frame; the socket stays open.
    expect(await ws.next((f) => f.type === "error")).toMatchObject({ error: { code: "INVALID_PARAMS", message: "task.messages: give either prompt or messages, not both" } });
  } finally {
    await ws.close();
  }

  const res = await fetch(`${cluster.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ model: "tiny", messages, max_tokens: 6, seed: 1 }) });
  const body = (await res.json()) as any;
  expect(body.choices[0].message.content).toBe(expected);
  expect(body.usage.prompt_tokens).toBe(rendered.length);

  // The transcript (committed before the stream's last event) keeps the messages' size and hash only.
  const list = (await (await fetch(`${cluster.url}/v2/artifacts?tag=task:chat-sse&kind=trace`)).json()) as any;
  const transcript = await (await fetch(`${cluster.url}/v2/artifacts/${list.artifacts[0].id}`)).text();
  expect(transcript).not.toContain("Be brief.");
  expect(transcript).toContain('"messages":{"redacted":true,"count":2,"chars":17,"sha256":"');
});
