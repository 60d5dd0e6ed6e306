// KV cache use as the adapters read it from engines they do not trust: the one metric line of a
// Prometheus text, the slots' keys of a /slots answer, byte bounds, malformed and hostile answers,
// and which route each reader asks (and stops asking).

import { afterEach, describe, expect, test } from "bun:test";
import { RealClock } from "../../runtime/index.ts";
import { LlamaCppEngine } from "./llamacpp.ts";
import { OpenAiEngine } from "./openai.ts";
import { fraction, LlamaKvReader, metricSamples, METRICS_MAX_BYTES, readBounded, slotsKvRatio, VllmKvReader } from "./kv-usage.ts";

describe("metricSamples", () => {
  const text = [
    "# HELP llamacpp:kv_cache_usage_ratio KV-cache usage. 1 means 100 percent usage.",
    "# TYPE llamacpp:kv_cache_usage_ratio gauge",
    "llamacpp:kv_cache_usage_ratio_other 0.9",
    "xllamacpp:kv_cache_usage_ratio 0.8",
    "llamacpp:kv_cache_usage_ratio 0.25",
    'vllm:kv_cache_usage_perc{engine="0",model_name="m {x} y"} 0.5 1700000000000',
    'vllm:kv_cache_usage_perc{engine="1",model_name="m"} 7.5e-1',
    "vllm:gpu_cache_usage_perc NaN",
    "vllm:gpu_cache_usage_perc",
  ].join("\n");

  test("finds only the named series at a line start, with or without labels and a timestamp", () => {
    expect(metricSamples(text, "llamacpp:kv_cache_usage_ratio")).toEqual([0.25]);
    expect(metricSamples(text, "vllm:kv_cache_usage_perc")).toEqual([0.5, 0.75]);
  });

  test("drops values that are not numbers, and finds nothing in garbage", () => {
    expect(metricSamples(text, "vllm:gpu_cache_usage_perc")).toEqual([]);
    expect(metricSamples("\u0000\u0001llamacpp:kv_cache_usage_ratio", "llamacpp:kv_cache_usage_ratio")).toEqual([]);
    expect(metricSamples("llamacpp:kv_cache_usage_ratio abc\nllamacpp:kv_cache_usage_ratio {", "llamacpp:kv_cache_usage_ratio")).toEqual([]);
    expect(metricSamples("", "x")).toEqual([]);
  });

  test("fraction keeps [0,1] only", () => {
    expect([0, 0.5, 1].map(fraction)).toEqual([0, 0.5, 1]);
    expect([-0.1, 1.01, NaN, Infinity, undefined].map(fraction)).toEqual([undefined, undefined, undefined, undefined, undefined]);
  });
});

describe("slotsKvRatio", () => {
  // A real llama-server /slots answer, shortened: the prompt text may hold anything.
  const slots = JSON.stringify([
    { id: 0, n_ctx: 512, is_processing: false },
    { id: 1, n_ctx: 512, is_processing: true, id_task: 3, n_prompt_tokens: 256, n_prompt_tokens_processed: 9, prompt: 'say "n_ctx":1 and "n_prompt_tokens":99999', params: { n_keep: 0 } },
  ]);

  test("tokens held over the slots' contexts; prompt text cannot fake a key", () => {
    expect(slotsKvRatio(slots)).toBe(256 / 1024);
  });

  test("a unified cache counts one slot's context (each slot reports the whole cache)", () => {
    expect(slotsKvRatio(slots, true)).toBe(256 / 512);
  });

  test("clamped to 1; unknown without any context", () => {
    expect(slotsKvRatio('[{"n_ctx":10,"n_prompt_tokens":50}]')).toBe(1);
    expect(slotsKvRatio("[]")).toBeUndefined();
    expect(slotsKvRatio('{"error":{"code":501}}')).toBeUndefined();
    expect(slotsKvRatio('[{"n_ctx":0}]')).toBeUndefined();
    expect(slotsKvRatio("not json at all")).toBeUndefined();
  });
});

describe("readBounded", () => {
  test("reads up to the bound; past it, nothing (declared or streamed)", async () => {
    expect(await readBounded(new Response("abc"), 3)).toBe("abc");
    expect(await readBounded(new Response("abcd", { headers: { "content-length": "4" } }), 3)).toBeUndefined();
    let pulled = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull(c) {
        pulled++;
        c.enqueue(new Uint8Array(1024));
      },
    });
    expect(await readBounded(new Response(endless), 10 * 1024)).toBeUndefined();
    expect(pulled).toBeLessThan(20); // stopped soon after the bound, not read to the end
  });
});

// A peer engine on port 0 whose routes the test sets; counts requests per path.
let server: ReturnType<typeof Bun.serve> | undefined;
afterEach(() => {
  server?.stop(true);
  server = undefined;
});
function peer(routes: Record<string, () => Response | Promise<Response>>) {
  const hits: string[] = [];
  server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const path = new URL(req.url).pathname;
      hits.push(path);
      return routes[path]?.() ?? new Response("File Not Found", { status: 404 });
    },
  });
  return { base: `http://127.0.0.1:${server.port}`, hits };
}
const clock = new RealClock();

describe("llama.cpp-style engines", () => {
  test("the ratio on /metrics when the server exports it", async () => {
    const p = peer({ "/metrics": () => new Response("# TYPE llamacpp:kv_cache_usage_ratio gauge\nllamacpp:kv_cache_usage_ratio 0.375\n") });
    const engine = new LlamaCppEngine({ baseUrl: p.base, clock });
    expect(await engine.kvCacheUsage()).toBe(0.375);
    expect(await engine.kvCacheUsage()).toBe(0.375);
    expect(p.hits).toEqual(["/metrics", "/metrics"]);
  });

  test("a build without it (or without --metrics) is read from /slots, and /metrics is not asked again", async () => {
    const p = peer({ "/slots": () => Response.json([{ id: 0, n_ctx: 100, n_prompt_tokens: 30 }, { id: 1, n_ctx: 100, n_prompt_tokens: 10 }]) });
    const reader = new LlamaKvReader({ base: p.base, clock });
    expect(await reader.read()).toBe(0.2);
    expect(await reader.read()).toBe(0.2);
    expect(p.hits).toEqual(["/metrics", "/slots", "/slots"]);
  });

  test("--no-slots and no metric: unknown, and nothing more is asked", async () => {
    const p = peer({ "/metrics": () => new Response("llamacpp:requests_processing 0\n"), "/slots": () => Response.json({ error: { code: 501 } }, { status: 501 }) });
    const reader = new LlamaKvReader({ base: p.base, clock });
    expect(await reader.read()).toBeUndefined();
    expect(await reader.read()).toBeUndefined();
    expect(p.hits).toEqual(["/metrics", "/slots"]);
  });

  test("an out-of-range ratio, an oversized /slots or a hung engine reads as unknown within the budget", async () => {
    const huge = peer({ "/metrics": () => new Response("llamacpp:kv_cache_usage_ratio 7\n"), "/slots": () => new Response("[" + " ".repeat(9 * 1024 * 1024) + "]") });
    expect(await new LlamaKvReader({ base: huge.base, clock }).read()).toBeUndefined();
    server!.stop(true);
    const hung = peer({ "/metrics": () => new Promise<Response>(() => {}) });
    const started = performance.now();
    expect(await new LlamaKvReader({ base: hung.base, clock, timeoutMs: 100 }).read()).toBeUndefined();
    expect(performance.now() - started).toBeLessThan(2000);
  });

  test("an unreachable engine reads as unknown, never throws", async () => {
    const p = peer({});
    server!.stop(true);
    expect(await new LlamaCppEngine({ baseUrl: p.base, clock }).kvCacheUsage()).toBeUndefined();
  });
});

describe("vLLM (openai engine)", () => {
  test("kv_cache_usage_perc, the largest over its series", async () => {
    const p = peer({ "/metrics": () => new Response('vllm:kv_cache_usage_perc{engine="0"} 0.1\nvllm:kv_cache_usage_perc{engine="1"} 0.6\nvllm:gpu_cache_usage_perc 0.9\n') });
    expect(await new OpenAiEngine({ baseUrl: `${p.base}/v1`, model: "m", clock }).kvCacheUsage()).toBe(0.6);
  });

  test("older vLLM: gpu_cache_usage_perc; the API key goes along", async () => {
    let auth: string | null | undefined;
    server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch(req) {
        auth = req.headers.get("authorization");
        return new Response("vllm:gpu_cache_usage_perc{model_name=\"m\"} 0.42\n");
      },
    });
    expect(await new OpenAiEngine({ baseUrl: `http://127.0.0.1:${server.port}`, model: "m", apiKey: "sk-test-key-123456", clock }).kvCacheUsage()).toBe(0.42);
    expect(auth).toBe("Bearer sk-test-key-123456");
  });

  test("a server that is not vLLM (404, or metrics without the series) is asked once", async () => {
    const none = peer({});
    const engine = new OpenAiEngine({ baseUrl: none.base, model: "m", clock });
    expect(await engine.kvCacheUsage()).toBeUndefined();
    expect(await engine.kvCacheUsage()).toBeUndefined();
    expect(none.hits).toEqual(["/metrics"]);
    server!.stop(true);
    const other = peer({ "/metrics": () => new Response("process_cpu_seconds_total 1\n") });
    const reader = new VllmKvReader({ base: other.base, clock });
    expect(await reader.read()).toBeUndefined();
    expect(await reader.read()).toBeUndefined();
    expect(other.hits).toEqual(["/metrics"]);
  });

  test("a /metrics answer past the bound is not read", async () => {
    const p = peer({ "/metrics": () => new Response("#".repeat(METRICS_MAX_BYTES + 1) + "\nvllm:kv_cache_usage_perc 0.5\n") });
    expect(await new VllmKvReader({ base: p.base, clock }).read()).toBeUndefined();
  });
});
