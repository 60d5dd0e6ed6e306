// Writes docs/openapi.json from the control plane's operations list (`bun run openapi`), the same
// document /v2/openapi.json serves. `--check` writes nothing and exits 1 when the file is stale.

import { join } from "node:path";
import { renderOpenApi } from "../adapters/http/openapi/generator.ts";
import { buildControlOpenApi } from "../adapters/http/openapi/control-api.ts";

const target = join(import.meta.dir, "..", "docs", "openapi.json");
const text = renderOpenApi(buildControlOpenApi());

if (process.argv.includes("--check")) {
  const file = Bun.file(target);
  const current = (await file.exists()) ? await file.text() : "";
  if (current !== text) {
    console.error(`${target} is out of date; run: bun run openapi`);
    process.exit(1);
  }
  console.log(`${target} is up to date`);
} else {
  await Bun.write(target, text);
  console.log(`wrote ${target}`);
}
