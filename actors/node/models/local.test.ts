import { afterAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { missingModelFile } from "./local.ts";

const dir = mkdtempSync(join(tmpdir(), "models-local-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("only a local file that is not there is missing; names, downloads and bad refs are not", () => {
  writeFileSync(join(dir, "here.gguf"), "GGUF");
  mkdirSync(join(dir, "sub"));
  const o = { baseDir: dir, homeDir: dir };
  expect(missingModelFile("here.gguf", o)).toBeUndefined();
  expect(missingModelFile("~/here.gguf", o)).toBeUndefined();
  expect(missingModelFile(`file://${dir}/here.gguf`, o)).toBeUndefined();
  expect(missingModelFile("gone.gguf", o)).toBe(`model file ${join(dir, "gone.gguf")} does not exist`);
  expect(missingModelFile("./sub/x/y.gguf", o)).toBe(`model file ${join(dir, "sub/x/y.gguf")} does not exist`);
  expect(missingModelFile(`${dir}/here.gguf/inner.gguf`, o)).toBe(`model file ${dir}/here.gguf/inner.gguf does not exist`); // ENOTDIR
  expect(missingModelFile("tiny", o)).toBeUndefined();
  expect(missingModelFile("https://example.invalid/m.gguf", o)).toBeUndefined();
  expect(missingModelFile("hf:org/repo/m.gguf", o)).toBeUndefined();
  expect(missingModelFile("s3://bucket/m.gguf", o)).toBeUndefined(); // refused with its own reason when resolved
});
