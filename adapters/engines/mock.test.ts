// Mock engine on a simulated clock: deterministic output, per-token delay, and each injected
// fault (fail, crash, hang) ending the stream the way a real engine would.

import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { SimClock } from "../../runtime/index.ts";
import { localModelPath, MockEngine, type MockFaults } from "./mock.ts";
import { EngineError, type EngineEvent, type EngineRequest } from "./types.ts";

function request(over: Partial<EngineRequest> = {}): EngineRequest {
  return { task_id: "t1", prompt: "hello world", max_tokens: 5, seed: 7, ...over };
}

/** Consumes a stream in the background; `events` fills as tokens arrive. */
function consume(engine: MockEngine, req: EngineRequest, signal = new AbortController().signal) {
  const events: EngineEvent[] = [];
  const done = (async () => {
    try {
      for await (const ev of engine.submit(req, signal)) events.push(ev);
      return undefined;
    } catch (error) {
      return error;
    }
  })();
  return { events, done };
}

function setup(faults: MockFaults = {}) {
  const clock = new SimClock();
  return { clock, engine: new MockEngine({ clock, faults }) };
}

const tokens = (events: EngineEvent[]) => events.filter((e) => e.type === "token").map((e) => (e as { t: string }).t);

describe("MockEngine", () => {
  test("streams started, max_tokens tokens and end(length)", async () => {
    const { clock, engine } = setup();
    const run = consume(engine, request());
    await clock.flush();
    expect(await run.done).toBeUndefined();
    expect(run.events[0]).toEqual({ type: "started", engine_version: "mock-1", tokens_in: "hello world".length });
    expect(run.events.slice(1, -1).map((e) => (e as { i: number }).i)).toEqual([0, 1, 2, 3, 4]);
    expect(run.events.at(-1)).toEqual({ type: "end", tokens_out: 5, decode_ms: 0, stop_reason: "length" });
    expect(tokens(run.events).join("")).toMatch(/^\S+( \S+){4}$/);
  });

  test("output is deterministic in (prompt, seed) and changes with either", async () => {
    const outputs: Record<string, string> = {};
    for (const [key, req] of [
      ["a", request()],
      ["a-again", request({ task_id: "t2" })],
      ["other-seed", request({ seed: 8 })],
      ["other-prompt", request({ prompt: "goodbye world" })],
    ] as const) {
      const { clock, engine } = setup();
      const run = consume(engine, { ...req, max_tokens: 12 });
      await clock.flush();
      await run.done;
      outputs[key] = tokens(run.events).join("");
    }
    expect(outputs["a-again"]).toBe(outputs.a!);
    expect(outputs["other-seed"]).not.toBe(outputs.a!);
    expect(outputs["other-prompt"]).not.toBe(outputs.a!);
  });

  test("tokenDelayMs spaces tokens on the injected clock", async () => {
    const { clock, engine } = setup({ tokenDelayMs: 10 });
    const run = consume(engine, request({ max_tokens: 3 }));
    await clock.flush();
    expect(run.events.map((e) => e.type)).toEqual(["started"]);
    await clock.advance(9);
    expect(tokens(run.events)).toHaveLength(0);
    await clock.advance(1);
    expect(tokens(run.events)).toHaveLength(1);
    await clock.advance(20);
    expect(await run.done).toBeUndefined();
    expect(run.events.at(-1)).toEqual({ type: "end", tokens_out: 3, decode_ms: 30, stop_reason: "length" });
  });

  test("failAfterTokens ends the request with a non-fatal INTERNAL error; the engine stays up", async () => {
    const { clock, engine } = setup({ failAfterTokens: 2 });
    const run = consume(engine, request());
    await clock.flush();
    const error = await run.done;
    expect(error).toBeInstanceOf(EngineError);
    expect((error as EngineError).code).toBe("INTERNAL");
    expect((error as EngineError).fatal).toBe(false);
    expect(tokens(run.events)).toHaveLength(2);
    expect(run.events.some((e) => e.type === "end")).toBe(false);
    expect(await engine.health()).toEqual({ live: true, ready: true });
    expect(engine.active).toBe(0);
  });

  test("crashAfterTokens fails every stream with fatal WORKER_RESET until revived", async () => {
    const { clock, engine } = setup({ tokenDelayMs: 10, crashAfterTokens: 2 });
    const first = consume(engine, request({ task_id: "a" }));
    await clock.advance(5);
    const second = consume(engine, request({ task_id: "b" }));
    await clock.advance(15); // first: tokens at 10 and 20, then crashes; second has one token
    for (const run of [first, second]) {
      const error = (await run.done) as EngineError;
      expect(error).toBeInstanceOf(EngineError);
      expect(error.code).toBe("WORKER_RESET");
      expect(error.fatal).toBe(true);
    }
    expect(tokens(first.events)).toHaveLength(2);
    expect(tokens(second.events)).toHaveLength(1);
    expect(await engine.health()).toEqual({ live: false, ready: false });

    const refused = consume(engine, request({ task_id: "c" }));
    expect(((await refused.done) as EngineError).code).toBe("WORKER_RESET");
    expect(refused.events).toEqual([]);

    engine.revive();
    engine.faults = {};
    expect(await engine.health()).toEqual({ live: true, ready: true });
    const after = consume(engine, request({ task_id: "d", max_tokens: 1 }));
    await clock.flush();
    expect(await after.done).toBeUndefined();
  });

  test("hangAfterTokens sends nothing more until the signal aborts, then ends canceled", async () => {
    const { clock, engine } = setup({ tokenDelayMs: 10, hangAfterTokens: 2 });
    const abort = new AbortController();
    const run = consume(engine, request(), abort.signal);
    await clock.advance(10_000);
    expect(tokens(run.events)).toHaveLength(2);
    expect(run.events.some((e) => e.type === "end")).toBe(false);
    expect(engine.active).toBe(1);
    abort.abort(new Error("client went away"));
    expect(await run.done).toBeUndefined();
    expect(run.events.at(-1)).toEqual({ type: "end", tokens_out: 2, decode_ms: 10_000, stop_reason: "canceled" });
    expect(engine.active).toBe(0);
  });

  test("engine.cancel(task_id) ends a hanging request as canceled", async () => {
    const { clock, engine } = setup({ hangAfterTokens: 1 });
    const run = consume(engine, request({ task_id: "x" }));
    await clock.flush();
    await engine.cancel("x");
    expect(await run.done).toBeUndefined();
    expect(run.events.at(-1)).toMatchObject({ type: "end", tokens_out: 1, stop_reason: "canceled" });
  });

  test("an abort mid-stream ends at once with the tokens sent so far", async () => {
    const { clock, engine } = setup({ tokenDelayMs: 10 });
    const abort = new AbortController();
    const run = consume(engine, request({ max_tokens: 100 }), abort.signal);
    await clock.advance(25);
    abort.abort();
    expect(await run.done).toBeUndefined();
    expect(run.events.at(-1)).toEqual({ type: "end", tokens_out: 2, decode_ms: 25, stop_reason: "canceled" });
    expect(tokens(run.events)).toHaveLength(2);
    expect(clock.pending()).toBe(0);
  });

  test("an abort during the start delay ends canceled, not with a stray error", async () => {
    const { clock, engine } = setup({ startDelayMs: 100 });
    const abort = new AbortController();
    const run = consume(engine, request(), abort.signal);
    await clock.advance(50);
    abort.abort(new Error("canceled"));
    expect(await run.done).toBeUndefined();
    expect(run.events).toEqual([{ type: "end", tokens_out: 0, decode_ms: 50, stop_reason: "canceled" }]);
  });

  test("a crash during another stream's start delay fails it with WORKER_RESET", async () => {
    const { clock, engine } = setup({ crashAfterTokens: 0, startDelayMs: 10 });
    const first = consume(engine, request({ task_id: "a" }));
    await clock.advance(5);
    const second = consume(engine, request({ task_id: "b" }));
    await clock.advance(5); // first starts and crashes at once; second is still warming up
    expect(((await first.done) as EngineError).code).toBe("WORKER_RESET");
    const error = (await second.done) as EngineError;
    expect(error).toBeInstanceOf(EngineError);
    expect(error.code).toBe("WORKER_RESET");
    expect(error.fatal).toBe(true);
  });

  test("unready reports live but not ready; props report slots and context", async () => {
    const clock = new SimClock();
    const engine = new MockEngine({ clock, faults: { unready: true }, slots: 4, ctxMax: 2048, version: "mock-9" });
    expect(await engine.health()).toEqual({ live: true, ready: false });
    expect(await engine.props()).toEqual({ slots_total: 4, ctx_max: 2048 });
    expect(engine.version()).toBe("mock-9");
  });
});

describe("MockEngine model refs", () => {
  const dir = mkdtempSync(join(tmpdir(), "mock-model-"));
  const file = join(dir, "tiny.gguf");
  writeFileSync(file, "GGUF");
  mkdirSync(join(dir, "a-dir.gguf"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const health = (model: string) => new MockEngine({ clock: new SimClock(), model }).health();

  test("plain names and remote refs are virtual; file: and path-like refs name local paths", () => {
    expect(localModelPath("tiny")).toBeUndefined();
    expect(localModelPath("hf:org/repo/file.gguf")).toBeUndefined();
    expect(localModelPath("https://example.com/m.gguf")).toBeUndefined();
    expect(localModelPath("file:/models/a.bin")).toBe("/models/a.bin");
    expect(localModelPath(pathToFileURL(file).href)).toBe(file);
    expect(localModelPath("models/a")).toBe("models/a");
    expect(localModelPath("a.gguf")).toBe("a.gguf");
  });

  test("an existing model file starts; a virtual name needs no file", async () => {
    expect(await health(file)).toEqual({ live: true, ready: true });
    expect(await health(`file:${file}`)).toEqual({ live: true, ready: true });
    expect(await health("tiny")).toEqual({ live: true, ready: true });
  });

  for (const model of [join(dir, "missing.gguf"), `file:${join(dir, "nope")}`, "missing.gguf", join(dir, "a-dir.gguf")]) {
    test(`a model that cannot be loaded fails the start for good: ${model.replace(dir, "<tmp>")}`, async () => {
      const clock = new SimClock();
      const engine = new MockEngine({ clock, model });
      for (let i = 0; i < 2; i++) {
        const error = (await engine.health().catch((e) => e)) as EngineError;
        expect(error).toBeInstanceOf(EngineError);
        expect(error.fatal).toBe(true);
        expect(error.message).toContain("failed to start");
      }
      const run = consume(engine, request());
      await clock.flush();
      expect(((await run.done) as EngineError).fatal).toBe(true);
      expect(run.events).toEqual([]);
    });
  }
});
