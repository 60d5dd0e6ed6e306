// Builds a CPU `llama-server` offline from the llama.cpp sources that node-llama-cpp ships as a git
// bundle, and caches it outside the repository:
//   bun scripts/build-llama-server.ts [--jobs N] [--force]
// The binary lands in ~/.cache/llama-orch/llamacpp/<tag>/bin/llama-server (LLORCH_CACHE_DIR moves
// the root); its path is the only thing printed on stdout. A second run finds it and does nothing.
// Missing build tools (git, cmake, a C++ compiler) are not an error: the build is optional (tests
// that need the real server skip), so the script says what to install and exits 0 without a path.

import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync, copyFileSync, chmodSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

const PACKAGE_LLAMA_DIR = join(import.meta.dir, "..", "node_modules", "node-llama-cpp", "llama");

/**
 * Static linking (BUILD_SHARED_LIBS=OFF) gives one self-contained binary that runs without
 * LD_LIBRARY_PATH; no curl, tests or examples keep the build offline and short.
 */
export const CMAKE_FLAGS = [
  "-DCMAKE_BUILD_TYPE=Release", "-DLLAMA_CURL=OFF", "-DGGML_NATIVE=OFF", "-DLLAMA_BUILD_TESTS=OFF",
  "-DLLAMA_BUILD_EXAMPLES=OFF", "-DBUILD_SHARED_LIBS=OFF",
];

/** The llama.cpp release tag node-llama-cpp was built from, or undefined when the package is absent. */
export function llamaCppTag(llamaDir = PACKAGE_LLAMA_DIR): string | undefined {
  try {
    const info = JSON.parse(readFileSync(join(llamaDir, "llama.cpp.info.json"), "utf8")) as { tag?: unknown };
    return typeof info.tag === "string" && /^[\w.-]+$/.test(info.tag) ? info.tag : undefined;
  } catch {
    return undefined;
  }
}

/** `<cache root>/llamacpp/<tag>`: where sources, build tree and the binary of one tag live. */
export function llamaServerCacheDir(tag = llamaCppTag(), env: Record<string, string | undefined> = process.env): string | undefined {
  if (tag === undefined) return undefined;
  const root = env.LLORCH_CACHE_DIR ?? join(env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "llama-orch");
  return join(root, "llamacpp", tag);
}

/** Where the built binary is (whether or not it exists yet). */
export function llamaServerBinary(dir = llamaServerCacheDir()): string | undefined {
  return dir === undefined ? undefined : join(dir, "bin", "llama-server");
}

export interface BuildOptions {
  jobs: number;
  force: boolean;
}

export function parseBuildArgs(argv: string[]): BuildOptions {
  const opts: BuildOptions = { jobs: 1, force: false };
  for (let i = 0; i < argv.length; i++) {
    const [name, inline] = argv[i]!.split(/=(.*)/s, 2) as [string, string | undefined];
    if (name === "--force") opts.force = true;
    else if (name === "--jobs" || name === "-j") {
      const raw = inline ?? argv[++i];
      const n = Number(raw);
      if (!Number.isInteger(n) || n < 1) throw new Error(`--jobs needs a whole number >= 1, got '${raw}'`);
      opts.jobs = n;
    } else throw new Error(`unknown argument: ${name} (usage: build-llama-server.ts [--jobs N] [--force])`);
  }
  return opts;
}

function say(msg: string): void {
  process.stderr.write(`build-llama-server: ${msg}\n`);
}

function run(cmd: string[], cwd?: string): void {
  say(`$ ${cmd.join(" ")}`);
  // Tool output goes to stderr: stdout carries only the binary's path, for `$(...)` callers.
  const r = Bun.spawnSync(cmd, { cwd, stdin: "ignore", stdout: 2, stderr: "inherit" });
  if (r.exitCode !== 0) throw new Error(`${cmd[0]} failed (exit ${r.exitCode ?? r.signalCode})`);
}

/** A pid lock so two runs do not build into the same tree; a lock left by a dead process is taken over. */
function takeLock(dir: string): () => void {
  const lock = join(dir, ".build.lock");
  try {
    const pid = Number(readFileSync(lock, "utf8"));
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid) {
      try {
        process.kill(pid, 0);
        throw new Error(`another build (pid ${pid}) is running in ${dir}`);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "ESRCH") throw e;
      }
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  writeFileSync(lock, String(process.pid));
  return () => rmSync(lock, { force: true });
}

/** Builds (or finds) the binary; returns its path, or undefined when the tools or sources are missing. */
export function buildLlamaServer(opts: BuildOptions): string | undefined {
  const bundle = join(PACKAGE_LLAMA_DIR, "gitRelease.bundle");
  const dir = llamaServerCacheDir();
  const binary = llamaServerBinary(dir);
  if (dir === undefined || binary === undefined || !existsSync(bundle)) {
    say(`no llama.cpp sources: ${bundle} or its llama.cpp.info.json is missing (run bun install)`);
    return undefined;
  }
  if (existsSync(binary) && !opts.force) {
    say(`already built: ${binary}`);
    return binary;
  }
  const missing = ["git", "cmake"].filter((t) => Bun.which(t) === null);
  if (Bun.which("c++") === null && Bun.which("g++") === null && Bun.which("clang++") === null) missing.push("a C++ compiler");
  if (missing.length > 0) {
    say(`cannot build: missing ${missing.join(", ")} (Debian: apt-get install cmake g++ git); tests needing llama-server will skip`);
    return undefined;
  }

  mkdirSync(dir, { recursive: true });
  const release = takeLock(dir);
  try {
    const src = join(dir, "src");
    const build = join(dir, "build");
    if (!existsSync(join(src, "CMakeLists.txt"))) {
      rmSync(src, { recursive: true, force: true });
      run(["git", "-c", "advice.detachedHead=false", "clone", "--quiet", bundle, src]);
    }
    const ninja = Bun.which("ninja") !== null && !existsSync(join(build, "Makefile")) ? ["-G", "Ninja"] : [];
    run(["cmake", "-S", src, "-B", build, ...ninja, ...CMAKE_FLAGS]);
    const started = performance.now();
    run(["cmake", "--build", build, "--target", "llama-server", "-j", String(opts.jobs)]);
    say(`built in ${((performance.now() - started) / 60_000).toFixed(1)} min`);

    // Copy then rename, so a reader never sees a half-written binary.
    const built = join(build, "bin", "llama-server");
    if (!existsSync(built)) throw new Error(`the build finished but ${built} does not exist`);
    mkdirSync(join(dir, "bin"), { recursive: true });
    const tmp = `${binary}.tmp-${process.pid}`;
    copyFileSync(built, tmp);
    chmodSync(tmp, 0o755);
    renameSync(tmp, binary);
    return binary;
  } finally {
    release();
  }
}

if (import.meta.main) {
  try {
    const path = buildLlamaServer(parseBuildArgs(process.argv.slice(2)));
    if (path !== undefined) console.log(path);
  } catch (e) {
    say((e as Error).message);
    process.exit(1);
  }
}
