// Dependencies between the top-level folders point one way:
//
//   runtime ← contract ← adapters ← actors → host, engines
//
// runtime/ (the actor kernel) knows nothing of LLMs; contract/ (wire shapes, errors, ports, the
// node link) builds on runtime's types only; adapters/ (HTTP, engine clients, metrics, storage,
// transport) never reach into the domain; host/ (NVML, process groups) and engines/ (the engine
// programs and the tiny model) are leaves used by the node and `bun run dev` only. Inside actors/,
// only the entry points assemble the HTTP adapter, and the control plane and the node never import
// each other. Production code never imports tests/ (fixtures live there).
//
// Sources are read with a small lexer rather than line regexes: comments are dropped, strings stay
// whole, so an import in a comment or inside a string does not count, and one split over several
// lines (or a dynamic `import("...")`, or `export ... from`) does.

import { describe, expect, test } from "bun:test";
import { dirname, join, relative, resolve, sep } from "node:path";

const ROOT = resolve(import.meta.dir, "..");
const LAYERS = ["runtime", "contract", "adapters", "actors", "host", "engines"] as const;
type Layer = (typeof LAYERS)[number];

/** Words that mark LLM knowledge; matched case-insensitively inside identifiers and strings. */
const LLM_WORDS = ["token", "model", "engine", "gpu", "llama", "prompt", "inference"];

/**
 * Known LLM words in runtime/, each a debt to pay, not a licence: an entry whose file no longer
 * contains its words fails the test, so the list only shrinks.
 */
const KNOWN_LLM_WORDS: Record<string, string[]> = {};

// ---------------------------------------------------------------------------------------------
// Lexer: just enough TypeScript to tell code from comments, strings and regex literals.

type Tok = { kind: "id" | "str" | "tpl" | "regex" | "num" | "punct"; text: string; line: number };

/** After these, a `/` starts a regex literal rather than a division. */
const REGEX_AFTER_WORDS = new Set(["return", "typeof", "case", "do", "else", "in", "instanceof", "new", "delete", "void", "throw", "yield", "await", "of"]);

function lex(src: string): Tok[] {
  const toks: Tok[] = [];
  const braces: ("brace" | "tpl")[] = [];
  // A shebang line is not code.
  let i = src.startsWith("#!") ? Math.max(0, src.indexOf("\n")) : 0;
  let line = 1;
  const push = (kind: Tok["kind"], text: string, at: number) => toks.push({ kind, text, line: at });
  const advance = (to: number) => {
    for (let k = i; k < to && k < src.length; k++) if (src[k] === "\n") line++;
    i = Math.min(to, src.length);
  };
  /** Reads a template from i (just after ` or }) up to its end or the next `${`. */
  const template = () => {
    const start = line;
    let text = "";
    while (i < src.length) {
      const c = src[i]!;
      if (c === "\\") {
        text += src.slice(i, i + 2);
        advance(i + 2);
      } else if (c === "`") {
        advance(i + 1);
        return push("tpl", text, start);
      } else if (c === "$" && src[i + 1] === "{") {
        advance(i + 2);
        braces.push("tpl");
        return push("tpl", text, start);
      } else {
        text += c;
        advance(i + 1);
      }
    }
    push("tpl", text, start);
  };
  const regexAllowed = () => {
    const prev = toks[toks.length - 1];
    if (!prev) return true;
    if (prev.kind === "id") return REGEX_AFTER_WORDS.has(prev.text);
    if (prev.kind === "punct") return !")]}".includes(prev.text);
    return false;
  };

  while (i < src.length) {
    const c = src[i]!;
    const next = src[i + 1];
    if (/\s/.test(c)) advance(i + 1);
    else if (c === "/" && next === "/") advance(src.indexOf("\n", i) < 0 ? src.length : src.indexOf("\n", i));
    else if (c === "/" && next === "*") advance(src.indexOf("*/", i + 2) < 0 ? src.length : src.indexOf("*/", i + 2) + 2);
    else if (c === "'" || c === '"') {
      const start = line;
      let j = i + 1;
      let text = "";
      while (j < src.length && src[j] !== c && src[j] !== "\n") {
        if (src[j] === "\\") {
          text += src.slice(j, j + 2);
          j += 2;
        } else text += src[j++];
      }
      advance(j + 1);
      push("str", text, start);
    } else if (c === "`") {
      advance(i + 1);
      template();
    } else if (c === "{") {
      braces.push("brace");
      push("punct", c, line);
      advance(i + 1);
    } else if (c === "}") {
      advance(i + 1);
      if (braces.pop() === "tpl") template();
      else push("punct", c, line);
    } else if (c === "/" && regexAllowed()) {
      let j = i + 1;
      let inClass = false;
      while (j < src.length && src[j] !== "\n") {
        const d = src[j]!;
        if (d === "\\") j++;
        else if (d === "[") inClass = true;
        else if (d === "]") inClass = false;
        else if (d === "/" && !inClass) break;
        j++;
      }
      j++;
      while (j < src.length && /[a-z]/i.test(src[j]!)) j++;
      push("regex", src.slice(i, j), line);
      advance(j);
    } else if (/^#?[A-Za-z_$\u0080-\uffff]/.test(src.slice(i, i + 2))) {
      const m = /^#?[\w$\u0080-\uffff]+/.exec(src.slice(i, i + 256))!;
      push("id", m[0], line);
      advance(i + m[0].length);
    } else if (/[0-9]/.test(c)) {
      const m = /^[0-9][\w.]*/.exec(src.slice(i, i + 64))!;
      push("num", m[0], line);
      advance(i + m[0].length);
    } else {
      push("punct", c, line);
      advance(i + 1);
    }
  }
  return toks;
}

interface ImportSite {
  /** The module specifier, or undefined for a dynamic import of a computed path. */
  specifier: string | undefined;
  line: number;
}

/** `... from "x"`, `import "x"`, `import("x")`, `require("x")`. */
function findImports(src: string): ImportSite[] {
  const toks = lex(src);
  const sites: ImportSite[] = [];
  const literal = (t: Tok | undefined) => t !== undefined && (t.kind === "str" || t.kind === "tpl");
  for (let k = 0; k < toks.length; k++) {
    const t = toks[k]!;
    const a = toks[k + 1];
    const b = toks[k + 2];
    const c = toks[k + 3];
    const afterDot = toks[k - 1]?.text === ".";
    if (t.kind !== "id" || afterDot) continue;
    if (t.text === "from" && a?.kind === "str") sites.push({ specifier: a.text, line: t.line });
    else if (t.text === "import" && a?.kind === "str") sites.push({ specifier: a.text, line: t.line });
    else if ((t.text === "import" || t.text === "require") && a?.text === "(") {
      // A template counts as a literal only when it has no substitution: `x` followed by `)`.
      const ok = literal(b) && c?.text === ")";
      if (t.text === "require" && !ok) continue;
      sites.push({ specifier: ok ? b!.text : undefined, line: t.line });
    }
  }
  return sites;
}

// ---------------------------------------------------------------------------------------------
// The repository as the rules see it.

interface Edge {
  from: string; // repo-relative file
  fromLayer: Layer;
  to?: string; // repo-relative target, for relative specifiers
  toLayer?: Layer;
  specifier: string | undefined;
  line: number;
}

function layerOf(repoPath: string): Layer | undefined {
  const top = repoPath.split("/")[0];
  return (LAYERS as readonly string[]).includes(top ?? "") ? (top as Layer) : undefined;
}

function sourceFiles(layer: Layer): string[] {
  const dir = join(ROOT, layer);
  const glob = new Bun.Glob("**/*.{ts,tsx,mts,cts}");
  try {
    return [...glob.scanSync({ cwd: dir })].map((f) => `${layer}/${f.split(sep).join("/")}`).sort();
  } catch {
    return []; // the folder does not exist (yet)
  }
}

const files = new Map<string, string>();
for (const layer of LAYERS) for (const f of sourceFiles(layer)) files.set(f, await Bun.file(join(ROOT, f)).text());

const edges: Edge[] = [];
for (const [file, src] of files) {
  for (const site of findImports(src)) {
    const edge: Edge = { from: file, fromLayer: layerOf(file)!, specifier: site.specifier, line: site.line };
    if (site.specifier?.startsWith(".") || site.specifier?.startsWith("/")) {
      const target = relative(ROOT, resolve(dirname(join(ROOT, file)), site.specifier)).split(sep).join("/");
      edge.to = target;
      edge.toLayer = layerOf(target);
    }
    edges.push(edge);
  }
}

const show = (e: Edge) => `${e.from}:${e.line} imports '${e.specifier}'`;
const crossing = (from: Layer, banned: Layer[]) =>
  edges.filter((e) => e.fromLayer === from && e.toLayer !== undefined && banned.includes(e.toLayer)).map(show);

// ---------------------------------------------------------------------------------------------

describe("the import scanner", () => {
  test("finds every import form and nothing in comments, strings or regexes", () => {
    const src = [
      `import { a } from "./a.ts";`,
      `import type { B } from '../b.ts';`,
      `import {`,
      `  c,`,
      `  d,`,
      `} from "./multi-line.ts";`,
      `import "./side-effect.ts";`,
      `export * from "./star.ts";`,
      `export { e, type F } from "./named.ts";`,
      `const g = await import("./dynamic.ts");`,
      "const h = await import(`./template.ts`);",
      `type I = typeof import("./type-query.ts");`,
      `const j = require("./required.ts");`,
      `const k = import(name);`,
      `// import { x } from "./in-line-comment.ts";`,
      `/* export * from "./in-block-comment.ts"; */`,
      `const s = 'import { y } from "./in-string.ts"';`,
      "const t = `from \"./in-template.ts\" ${`nested ${\"./in-nested.ts\"}`}`;",
      `const r = /from "\\/x" ['"]/g;`,
      `const q = Array.from("abc"); const meta = import.meta.dir;`,
      `import { z } from "zod";`,
    ].join("\n");
    expect(findImports(src)).toEqual([
      { specifier: "./a.ts", line: 1 },
      { specifier: "../b.ts", line: 2 },
      { specifier: "./multi-line.ts", line: 6 },
      { specifier: "./side-effect.ts", line: 7 },
      { specifier: "./star.ts", line: 8 },
      { specifier: "./named.ts", line: 9 },
      { specifier: "./dynamic.ts", line: 10 },
      { specifier: "./template.ts", line: 11 },
      { specifier: "./type-query.ts", line: 12 },
      { specifier: "./required.ts", line: 13 },
      { specifier: undefined, line: 14 },
      { specifier: "zod", line: 21 },
    ]);
  });

  test("reads the real tree: every layer present has files and relative imports", () => {
    for (const layer of LAYERS) {
      expect(sourceFiles(layer).length).toBeGreaterThan(0);
      expect(edges.some((e) => e.fromLayer === layer && e.to !== undefined)).toBe(true);
    }
  });
});

/** The processes' entry points: the only files of actors/ that assemble the HTTP adapter. */
const ENTRY_POINTS = ["actors/control/run.ts", "actors/node/main.ts", "actors/dev.ts", "actors/cli.ts"];
const isTest = (file: string) => /\.test\.tsx?$/.test(file);

describe("import direction", () => {
  test("runtime/ imports nothing from the other folders", () => {
    expect(crossing("runtime", ["contract", "adapters", "actors", "host", "engines"])).toEqual([]);
  });

  test("contract/ imports only runtime/", () => {
    expect(crossing("contract", ["adapters", "actors", "host", "engines"])).toEqual([]);
  });

  test("adapters/ imports nothing from actors/, host/ or engines/", () => {
    expect(crossing("adapters", ["actors", "host", "engines"])).toEqual([]);
  });

  test("host/ and engines/ import nothing from contract/, adapters/ or actors/", () => {
    expect([...crossing("host", ["contract", "adapters", "actors"]), ...crossing("engines", ["contract", "adapters", "actors"])]).toEqual([]);
  });

  test("only actors/node/** and actors/dev.ts import host/ or engines/", () => {
    const allowed = (e: Edge) => e.fromLayer === e.toLayer || e.from.startsWith("actors/node/") || e.from === "actors/dev.ts" || (isTest(e.from) && (e.fromLayer === "host" || e.fromLayer === "engines"));
    expect(edges.filter((e) => (e.toLayer === "host" || e.toLayer === "engines") && !allowed(e)).map(show)).toEqual([]);
  });

  test("in actors/, only the entry points import adapters/http/", () => {
    const offences = edges.filter((e) => e.fromLayer === "actors" && e.to?.startsWith("adapters/http/") && !ENTRY_POINTS.includes(e.from));
    expect(offences.map(show)).toEqual([]);
  });

  test("actors/control/ and actors/node/ do not import each other", () => {
    const between = (from: string, to: string) => edges.filter((e) => e.from.startsWith(from) && e.to?.startsWith(to));
    expect([...between("actors/control/", "actors/node/"), ...between("actors/node/", "actors/control/")].map(show)).toEqual([]);
  });

  test("production code never imports tests/ (fixtures are for tests)", () => {
    expect(edges.filter((e) => !isTest(e.from) && e.to?.startsWith("tests/")).map(show)).toEqual([]);
  });

  test("no relative import leaves the repository, and every dynamic import names a literal path", () => {
    const outside = edges.filter((e) => e.to !== undefined && (e.to.startsWith("../") || e.to === "..")).map(show);
    const computed = edges.filter((e) => e.specifier === undefined).map((e) => `${e.from}:${e.line} imports a computed path`);
    expect([...outside, ...computed]).toEqual([]);
  });
});

describe("runtime/ knows nothing of LLMs", () => {
  /** file → word → first lines where it occurs in identifiers, strings, templates or regexes. */
  const found = new Map<string, Map<string, number[]>>();
  for (const [file, src] of files) {
    if (!file.startsWith("runtime/")) continue;
    for (const tok of lex(src)) {
      if (tok.kind === "punct" || tok.kind === "num") continue;
      const text = tok.text.toLowerCase();
      for (const word of LLM_WORDS) {
        if (!text.includes(word)) continue;
        const words = found.get(file) ?? new Map<string, number[]>();
        found.set(file, words);
        words.set(word, [...(words.get(word) ?? []), tok.line]);
      }
    }
  }

  test("no LLM word in runtime/ identifiers or strings (comments aside)", () => {
    const offences: string[] = [];
    for (const [file, words] of found) {
      for (const [word, lines] of words) {
        if (KNOWN_LLM_WORDS[file]?.includes(word)) continue;
        offences.push(`${file}:${lines.slice(0, 5).join(",")} contains '${word}'`);
      }
    }
    expect(offences).toEqual([]);
  });

  test("the list of known LLM words in runtime/ holds only debts still owed", () => {
    const stale: string[] = [];
    for (const [file, words] of Object.entries(KNOWN_LLM_WORDS)) {
      for (const word of words) {
        if (!found.get(file)?.has(word)) stale.push(`${file}: '${word}' is gone; remove it from KNOWN_LLM_WORDS`);
      }
    }
    expect(stale).toEqual([]);
  });
});
