import { expect, test } from "bun:test";
import { createLogger } from "./log.ts";
import { SimClock } from "./index.ts";

test("json (the default) is one JSON object per line; text is the same record for a person", () => {
  const json: string[] = [];
  const text: string[] = [];
  const clock = new SimClock(Date.UTC(2026, 0, 2, 3, 4, 5, 678));
  const fields = { service: "svc" };
  const a = createLogger({ clock, sink: (l) => json.push(l), fields }).child({ unit_id: "u0" });
  const b = createLogger({ clock, sink: (l) => text.push(l), fields, format: "text" }).child({ unit_id: "u0" });
  for (const log of [a, b]) {
    log.warn("Unit u0 is not ready", { reason: "file /d/x y.bin does not exist", count: 2, ok: false, gone: undefined, tags: ["a"] });
    log.debug("hidden");
  }
  expect(json).toEqual([
    '{"ts":"2026-01-02T03:04:05.678Z","level":"warn","service":"svc","unit_id":"u0","reason":"file /d/x y.bin does not exist","count":2,"ok":false,"tags":["a"],"msg":"Unit u0 is not ready"}',
  ]);
  expect(text).toEqual(['2026-01-02T03:04:05.678Z WARN  Unit u0 is not ready service=svc unit_id=u0 reason="file /d/x y.bin does not exist" count=2 ok=false tags=["a"]']);
});
