// Model references as pools configure them (docs/configuration.md#model-refs-and-downloads):
// what a `model:` string names and where its bytes come from. Parsing is pure; nothing here
// touches the disk or the network.
//
//   file:///abs/x.gguf  file:/abs/x.gguf  file:rel/x.gguf  /abs/x.gguf  ./rel  rel/x.gguf  x.gguf  ~/x.gguf
//                                                    → {kind:"file", path} (relative to baseDir)
//   https://host/x.gguf (also http://, for LAN mirrors) → {kind:"https", url}
//   hf:org/repo/path/file.gguf, hf:org/repo@rev/path/file.gguf, hf:org/repo/path/file.gguf@rev
//                                                    → {kind:"hf", org, repo, file, revision?}
//   tiny (no "/", not *.gguf)                        → {kind:"name", name}: a label for the mock engines
//
// s3:, oci:, gs:, gguf: and any other scheme are refused as unsupported rather than read as paths.

import { homedir } from "node:os";
import { isAbsolute, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export type ModelRef =
  | { kind: "file"; path: string }
  | { kind: "https"; url: string }
  | { kind: "hf"; org: string; repo: string; file: string; revision?: string }
  | { kind: "name"; name: string };

export type ModelErrorCode =
  | "UNSUPPORTED_MODEL_REF"
  | "INVALID_MODEL_REF"
  | "MODEL_NOT_FOUND"
  | "DOWNLOADS_DISABLED"
  | "DOWNLOAD_FAILED"
  | "DIGEST_MISMATCH"
  | "INVALID_DIGEST";

/** Every failure of resolving a model; `message` is what the pool reports as its unready reason. */
export class ModelError extends Error {
  constructor(
    readonly code: ModelErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "ModelError";
  }
}

export const DEFAULT_HF_BASE_URL = "https://huggingface.co";

/** Schemes people might try whose fetchers we do not have (the upstream shells out to aws/oras). */
const KNOWN_SCHEMES = ["s3", "oci", "gs", "gcs", "az", "abfs", "gguf", "ollama", "ftp", "sftp", "ssh", "git", "docker", "ipfs"];

const HF_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export interface ParseOptions {
  /** Relative paths resolve against it (the config file's folder, or the working directory). */
  baseDir: string;
  /** `~/` expands to it; defaults to the user's home. */
  homeDir?: string;
}

export function parseModelRef(ref: string, options: ParseOptions): ModelRef {
  const text = ref.trim();
  if (text === "") throw new ModelError("INVALID_MODEL_REF", "model ref is empty");
  const lower = text.toLowerCase();
  if (lower.startsWith("hf:")) return parseHf(text);
  if (lower.startsWith("file:")) return { kind: "file", path: filePath(text, options) };
  if (lower.startsWith("https://") || lower.startsWith("http://")) return { kind: "https", url: parseUrl(text) };
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(text)?.[1];
  // `name://…` is a URL whatever the name; `s3:bucket/key` and friends are known schemes. A colon
  // elsewhere (`llama3:8b`) stays a plain name.
  if (scheme && (text.slice(scheme.length + 1).startsWith("//") || KNOWN_SCHEMES.includes(scheme.toLowerCase()))) {
    throw new ModelError(
      "UNSUPPORTED_MODEL_REF",
      `model ref '${text}': scheme '${scheme}:' is unsupported (use a local path, file:, https:// or hf:org/repo/file.gguf)`,
    );
  }
  if (isPathLike(text)) return { kind: "file", path: localPath(text, options) };
  return { kind: "name", name: text };
}

/** The same rule as the mock engine program: a "/" or a .gguf suffix makes a path, else a name. */
function isPathLike(text: string): boolean {
  return text.includes("/") || text.toLowerCase().endsWith(".gguf") || text === "." || text === ".." || text === "~";
}

function localPath(path: string, options: ParseOptions): string {
  if (path === "~" || path.startsWith("~/")) return resolve(options.homeDir ?? homedir(), path.slice(2));
  return isAbsolute(path) ? resolve(path) : resolve(options.baseDir, path);
}

function filePath(text: string, options: ParseOptions): string {
  const rest = text.slice("file:".length);
  if (rest.startsWith("//")) {
    // A file URL: only the local host, and percent-escapes decoded the standard way.
    try {
      return fileURLToPath(new URL(text));
    } catch (error) {
      throw new ModelError("INVALID_MODEL_REF", `model ref '${text}' is not a local file URL: ${(error as Error).message}`);
    }
  }
  if (rest === "") throw new ModelError("INVALID_MODEL_REF", `model ref '${text}' names no file`);
  return localPath(rest, options);
}

function parseUrl(text: string): string {
  try {
    const url = new URL(text);
    if (url.hostname === "") throw new Error("no host");
    return url.href;
  } catch (error) {
    throw new ModelError("INVALID_MODEL_REF", `model ref '${text}' is not a valid URL: ${(error as Error).message}`);
  }
}

function parseHf(text: string): ModelRef {
  const body = text.slice(3);
  const bad = (why: string) => new ModelError("INVALID_MODEL_REF", `model ref '${text}': ${why} (expected hf:org/repo/path/file.gguf[@revision])`);
  const parts = body.split("/");
  if (parts.length < 2 || !parts[1]) throw bad("missing repository");
  let [org, repo] = parts as [string, string];
  let revision: string | undefined;
  const at = repo.indexOf("@");
  if (at >= 0) {
    revision = repo.slice(at + 1);
    repo = repo.slice(0, at);
  }
  let file = parts.slice(2).join("/");
  const fileAt = file.lastIndexOf("@");
  if (fileAt >= 0) {
    if (revision !== undefined) throw bad("two revisions");
    revision = file.slice(fileAt + 1);
    file = file.slice(0, fileAt);
  }
  if (!HF_NAME.test(org)) throw bad(`bad organisation '${org}'`);
  if (!HF_NAME.test(repo)) throw bad(`bad repository '${repo}'`);
  if (revision !== undefined && (revision === "" || /[\s]/.test(revision) || revision.split("/").includes(".."))) throw bad("bad revision");
  if (file === "") {
    throw new ModelError(
      "UNSUPPORTED_MODEL_REF",
      `model ref '${text}' names a whole repository; the node fetches single files: hf:${org}/${repo}/<file>.gguf`,
    );
  }
  const segments = file.split("/");
  if (segments.some((s) => s === "" || s === "." || s === "..")) throw bad(`bad file path '${file}'`);
  return revision === undefined ? { kind: "hf", org, repo, file } : { kind: "hf", org, repo, file, revision };
}

/** `<base>/<org>/<repo>/resolve/<revision|main>/<file>`, each part escaped. */
export function hfUrl(ref: Extract<ModelRef, { kind: "hf" }>, baseUrl = DEFAULT_HF_BASE_URL): string {
  const base = baseUrl.replace(/\/+$/, "");
  const file = ref.file.split("/").map(encodeURIComponent).join("/");
  return `${base}/${encodeURIComponent(ref.org)}/${encodeURIComponent(ref.repo)}/resolve/${encodeURIComponent(ref.revision ?? "main")}/${file}`;
}

/**
 * What the node lists in `models_available` for a pool: the ref exactly as configured. Tasks name
 * models by the same string (`model_ref`), so placement matches them without any normalising that
 * could make two spellings of one file collide or one spelling differ between nodes.
 */
export function modelId(ref: string): string {
  return ref;
}
