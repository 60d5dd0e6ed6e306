// Config file errors carry the file, line and column: of the syntax error, or of the key or value
// a schema error is about.

import { expect, test } from "bun:test";
import { z } from "zod";
import { parseConfigText } from "./config-file.ts";

const Schema = z
  .object({
    addr: z.string().optional(),
    pools: z.array(z.object({ id: z.string(), slots: z.number().int().min(1).default(1) }).strict()).min(1),
  })
  .strict();

const error = (text: string) => {
  try {
    parseConfigText(Schema, text, "/etc/llorch/pools.yaml");
  } catch (e) {
    expect((e as Error).name).toBe("ConfigError");
    return (e as Error).message;
  }
  throw new Error("parsed");
};

test("a syntax error: file:line:column", () => {
  expect(error("pools:\n  - id: a\n    slots: [1,\n")).toStartWith("/etc/llorch/pools.yaml:4:1: not valid YAML/JSON: ");
  expect(error('pools:\n  - id: "a\n')).toStartWith("/etc/llorch/pools.yaml:3:1: not valid YAML/JSON: Missing closing");
  expect(error("pools:\n\t- id: a\n")).toMatch(/^\/etc\/llorch\/pools\.yaml:2:1: not valid YAML\/JSON: Tabs/);
  expect(error("addr: a\naddr: b\npools: [{id: a}]\n")).toMatch(/^\/etc\/llorch\/pools\.yaml:2:1: .*unique/);
  expect(error("pools: [{id: a}]\n---\npools: [{id: b}]\n")).toBe("/etc/llorch/pools.yaml:2:1: not valid YAML/JSON: a config file holds one document (a second '---' starts another)");
  expect(error('{"pools": [{"id": "a"},]')).toMatch(/^\/etc\/llorch\/pools\.yaml:1:\d+: not valid YAML\/JSON: /);
});

test("a schema error: the line and column of the offending value or key", () => {
  expect(error("pools:\n  - id: a\n    slots: 0\n")).toBe("/etc/llorch/pools.yaml:3:12: pools.0.slots: Too small: expected number to be >=1");
  expect(error("pools:\n  - id: a\n    slot: 2\n")).toBe('/etc/llorch/pools.yaml:3:5: pools.0: Unrecognized key: "slot" (slot)');
  // A missing key: where its parent is.
  expect(error("addr: x\n")).toBe("/etc/llorch/pools.yaml:1:1: pools: Invalid input: expected array, received undefined");
  expect(error("pools:\n  - slots: 2\n")).toBe("/etc/llorch/pools.yaml:2:5: pools.0.id: Invalid input: expected string, received undefined");
  // Several issues: a heading, then one line each.
  expect(error("addr: 1\npools:\n  - id: 2\n").split("\n")).toEqual([
    "/etc/llorch/pools.yaml: invalid configuration",
    "/etc/llorch/pools.yaml:1:7: addr: Invalid input: expected string, received number",
    "/etc/llorch/pools.yaml:3:9: pools.0.id: Invalid input: expected string, received number",
  ]);
});

test("JSON is YAML; empty is an empty object; aliases are bounded", () => {
  expect(parseConfigText(Schema, '{"pools": [{"id": "a"}]}', "x.json")).toEqual({ pools: [{ id: "a", slots: 1 }] });
  expect(() => parseConfigText(Schema, "", "x.yaml")).toThrow(/^x\.yaml: pools: /);
  const laughs = ["a: &a [x, x, x, x, x, x, x, x, x, x]", ...Array.from({ length: 8 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10).fill(`*${String.fromCharCode(97 + i)}`).join(", ")}]`)].join("\n");
  expect(() => parseConfigText(Schema, laughs, "x.yaml")).toThrow(/x\.yaml: not valid YAML\/JSON: .*alias/i);
});
