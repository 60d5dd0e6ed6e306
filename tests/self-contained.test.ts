// The repository explains itself: no source or doc file points at a document the repository does
// not contain (the upstream system's spec digest, design notes or reference notes outside it), and
// every link into docs/contract.md names a heading that exists there. Comments cite
// docs/contract.md#<anchor> instead; this test keeps those anchors from going stale when a heading
// is renamed.

import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..");
const CONTRACT = "docs/contract.md";

/**
 * Source and doc files. Skipped: docs/openapi.json, generated from the zod schemas (whose
 * descriptions are scanned here) and checked by its own test; and this file, which has to spell
 * out what it looks for.
 */
const SCANNED = /\.(ts|md|ya?ml|json|service|env|c)$/;
const SKIPPED = new Set(["docs/openapi.json", "tests/self-contained.test.ts"]);

/** Pointers to documents outside the repository; the separator also catches a phrase wrapped across comment lines. */
const SEP = String.raw`(?:\s|//|\*|#)+`;
const FORBIDDEN: { label: string; re: RegExp }[] = [
  { label: "digest §", re: new RegExp(`digest${SEP}§`, "gi") },
  { label: "contract §", re: new RegExp(`contract${SEP}§`, "gi") },
  { label: "contract item", re: new RegExp(`contract${SEP}items?\\b`, "gi") },
  { label: "shared/design", re: /shared\/design/gi },
  { label: "shared/spec", re: /shared\/spec/gi },
  { label: "shared/reference", re: /shared\/reference/gi },
  { label: "project brief", re: new RegExp(`project${SEP}brief`, "gi") },
];

/** The sections the code and the other docs rely on. */
const REQUIRED_ANCHORS = [
  "endpoints",
  "tasks",
  "stream-events",
  "error-codes",
  "pools-control",
  "nodes",
  "node-link",
  "metrics",
  "supervision",
  "catalog",
  "artifacts",
  "sessions",
  "configuration",
];

/** Tracked files plus new ones git does not ignore; without git, a walk of the tree. */
function repoFiles(): string[] {
  const git = Bun.spawnSync(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: ROOT, stdout: "pipe", stderr: "ignore" });
  let paths: string[];
  if (git.exitCode === 0) {
    paths = git.stdout.toString().split("\0").filter(Boolean);
  } else {
    const glob = new Bun.Glob("**/*");
    paths = [...glob.scanSync({ cwd: ROOT, dot: false })].filter((p) => !/(^|\/)(node_modules|\.git|\.cache|\.runtime)\//.test(p));
  }
  const unique = [...new Set(paths)];
  return unique
    .filter((p) => SCANNED.test(p) && !SKIPPED.has(p) && !p.includes("node_modules/"))
    .filter((p) => existsSync(join(ROOT, p)) && statSync(join(ROOT, p)).isFile())
    .sort();
}

function lineOf(text: string, index: number): number {
  let line = 1;
  for (let i = 0; i < index; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/** GitHub's heading anchors: lowercase, punctuation dropped, spaces to '-', repeats get -1, -2, ... */
function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let fenced = false;
  for (const line of markdown.split("\n")) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    if (fenced) continue;
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const text = m[1]!.replace(/\[([^\]]*)\]\([^)]*\)/g, "$1");
    const base = text
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, "")
      .replace(/ /g, "-");
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

const files = repoFiles();
const texts = new Map(files.map((f) => [f, readFileSync(join(ROOT, f), "utf8")]));

describe("the repository is self-contained", () => {
  test("the scan sees the code and the docs", () => {
    expect(files).toContain(CONTRACT);
    expect(files).toContain("contract/errors.ts");
    expect(files).not.toContain("docs/openapi.json");
  });

  test("no file points at a document outside the repository", () => {
    const hits: string[] = [];
    for (const [file, text] of texts) {
      for (const { label, re } of FORBIDDEN) {
        re.lastIndex = 0;
        for (const m of text.matchAll(re)) {
          const line = lineOf(text, m.index ?? 0);
          hits.push(`${file}:${line}: "${label}": ${text.split("\n")[line - 1]!.trim().slice(0, 160)}`);
        }
      }
    }
    expect(hits).toEqual([]);
  });

  test("docs/contract.md has the sections the rest of the repository relies on", () => {
    const anchors = headingAnchors(texts.get(CONTRACT) ?? "");
    expect(REQUIRED_ANCHORS.filter((a) => !anchors.has(a))).toEqual([]);
  });

  test("every docs/contract.md#anchor cited names a heading of docs/contract.md", () => {
    const anchors = headingAnchors(texts.get(CONTRACT) ?? "");
    const broken: string[] = [];
    let cited = 0;
    for (const [file, text] of texts) {
      const links = [...text.matchAll(/contract\.md#([\p{L}\p{N}_-]+)/gu)];
      // docs/contract.md's own links to its sections: ](#anchor).
      if (file === CONTRACT) links.push(...text.matchAll(/\]\(#([\p{L}\p{N}_-]+)\)/gu));
      for (const m of links) {
        cited++;
        if (!anchors.has(m[1]!)) broken.push(`${file}:${lineOf(text, m.index ?? 0)}: #${m[1]} is not a heading of ${CONTRACT}`);
      }
    }
    expect(broken).toEqual([]);
    expect(cited).toBeGreaterThan(0);
  });

  test("anchors follow GitHub's slug rules", () => {
    const anchors = headingAnchors("# Error codes\n## `POST /v2/tasks`: submit\n```\n# not a heading\n```\n## Nodes\n## Nodes\n");
    expect([...anchors]).toEqual(["error-codes", "post-v2tasks-submit", "nodes", "nodes-1"]);
  });
});
