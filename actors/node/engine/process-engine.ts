// An engine that runs as a child process speaking the llama.cpp server API (our mock engine
// program, a real llama-server, later the built-in engine): spawned detached in its own process
// group with CUDA_VISIBLE_DEVICES from the pool's device mask, output appended to
// `<runtime>/engine-<pool>.log`, pid file written before the health wait, ready when /health
// answers 200 (polled every 500 ms, up to 120 s). Stopping it stops the whole group (SIGTERM,
// 5 s grace, SIGKILL). Requests go through the llama.cpp HTTP adapter.

import { join } from "node:path";
import type { Clock } from "../../../runtime/index.ts";
import { LlamaCppEngine, type EngineAdapter, type EngineEmbeddings, type EngineEvent, type EngineHealth, type EngineProps, type EngineRequest } from "../../../adapters/engines/index.ts";
import { classifyExit, freePort, HealthWaitError, LOG_TAIL_BYTES, readLogTail, spawnEngine, stopGroup, waitHealthy, type CrashReason, type EngineProcess } from "../../../host/index.ts";

export interface ProcessEngineOptions {
  /** Engine family reported in events and metrics, e.g. "llamacpp". */
  engine: string;
  /** The program and its arguments for the port it must listen on and the model file to load. */
  argv: (port: number, modelPath?: string) => string[];
  /** Resolves the model before each start (local file, cache, download); its path goes to argv. */
  prepare?: () => Promise<string | undefined>;
  host: string;
  /** Fixed port; absent = a free one is picked at each start. */
  port?: number;
  /** Merged over the node's environment; undefined removes a variable. */
  env?: Record<string, string | undefined>;
  /** Pool's device mask as CUDA_VISIBLE_DEVICES ("" hides every GPU). */
  cudaVisibleDevices?: string;
  runtimeDir: string;
  poolId: string;
  clock?: Clock;
  /** Health wait at start (120 s) and poll interval (500 ms). */
  readyTimeoutMs?: number;
  healthIntervalMs?: number;
  /** SIGTERM grace before SIGKILL (5 s). */
  stopGraceMs?: number;
  /** Budget of one health poll once running (default 2 s). */
  healthTimeoutMs?: number;
  /** The engine shares one KV cache among its slots (llama-server --kv-unified). */
  kvUnified?: boolean;
}

/** An engine whose process the replica starts, watches and stops. */
export interface ManagedEngine extends EngineAdapter {
  /** Spawns and waits until healthy; rejects with StartFailure (the process is stopped then). */
  start(): Promise<void>;
  /** Settles when the process exits on its own: why (graceful when it was asked to stop). */
  exited(): Promise<CrashReason>;
  /** The process id while it runs (for logs). */
  pid(): number | undefined;
}

export class StartFailure extends Error {
  constructor(
    readonly reason: CrashReason,
    message: string,
  ) {
    super(message);
    this.name = "StartFailure";
  }
}

export function isManaged(engine: EngineAdapter): engine is ManagedEngine {
  return typeof (engine as Partial<ManagedEngine>).start === "function" && typeof (engine as Partial<ManagedEngine>).exited === "function";
}

export class ProcessEngine implements ManagedEngine {
  readonly engine: string;
  private http: LlamaCppEngine;
  private port: number | undefined;
  private proc: EngineProcess | undefined;
  private closing: Promise<void> | undefined;

  constructor(private readonly options: ProcessEngineOptions) {
    this.engine = options.engine;
    this.port = options.port;
    this.http = new LlamaCppEngine({ baseUrl: this.baseUrl, clock: options.clock, healthTimeoutMs: options.healthTimeoutMs, kvUnified: options.kvUnified });
  }

  get baseUrl(): string {
    const host = this.options.host.includes(":") ? `[${this.options.host}]` : this.options.host;
    return `http://${host}:${this.port ?? 0}`;
  }

  get logPath(): string {
    return join(this.options.runtimeDir, `engine-${this.options.poolId}.log`);
  }

  get pidPath(): string {
    return join(this.options.runtimeDir, `${this.options.poolId}.pid`);
  }

  pid(): number | undefined {
    return this.proc?.pid;
  }

  async start(): Promise<void> {
    let modelPath: string | undefined;
    if (this.options.prepare) {
      try {
        modelPath = await this.options.prepare();
      } catch (error) {
        // EX_NOINPUT: the engine never ran; the reason is the model's.
        throw new StartFailure({ kind: "exit", code: 66 }, `model not ready: ${(error as Error).message}`);
      }
    }
    if (this.port === undefined) {
      this.port = await freePort(this.options.host);
      this.http = new LlamaCppEngine({ baseUrl: this.baseUrl, clock: this.options.clock, healthTimeoutMs: this.options.healthTimeoutMs, kvUnified: this.options.kvUnified });
    }
    let proc: EngineProcess;
    try {
      proc = spawnEngine({
        argv: this.options.argv(this.port, modelPath),
        env: this.options.env,
        logPath: this.logPath,
        pidPath: this.pidPath,
        cudaVisibleDevices: this.options.cudaVisibleDevices,
        clock: this.options.clock,
      });
    } catch (error) {
      throw new StartFailure({ kind: "exit", code: 127 }, `engine could not be spawned: ${(error as Error).message}`);
    }
    this.proc = proc;
    try {
      await waitHealthy(this.baseUrl, {
        exited: proc.exited,
        clock: this.options.clock,
        intervalMs: this.options.healthIntervalMs,
        timeoutMs: this.options.readyTimeoutMs,
      });
      // Version and slots come from /props; the adapter keeps them.
      await this.http.props().catch(() => undefined);
    } catch (error) {
      const exit = error instanceof HealthWaitError ? error.exit : undefined;
      // Classify before stopping: a stop we ask for reads as graceful.
      const reason = exit ? this.classify(exit) : ({ kind: "health_check_failure" } as const);
      await this.close();
      throw new StartFailure(reason, `engine did not become healthy: ${(error as Error).message}`);
    }
  }

  exited(): Promise<CrashReason> {
    const proc = this.proc;
    if (!proc) return Promise.resolve({ kind: "graceful" });
    return proc.exited.then((exit) => this.classify(exit));
  }

  private classify(exit: { code: number | null; signal: string | null }): CrashReason {
    const proc = this.proc;
    const tail = proc ? readLogTail(proc.logPath, LOG_TAIL_BYTES, proc.logOffset) : "";
    return classifyExit(exit, tail, { stopRequested: proc?.stopRequested });
  }

  version(): string {
    return this.http.version();
  }

  health(signal?: AbortSignal): Promise<EngineHealth> {
    return this.http.health(signal);
  }

  kvCacheUsage(signal?: AbortSignal): Promise<number | undefined> {
    return this.http.kvCacheUsage(signal);
  }

  props(signal?: AbortSignal): Promise<EngineProps> {
    return this.http.props(signal);
  }

  embed(inputs: string[], signal: AbortSignal): Promise<EngineEmbeddings> {
    return this.http.embed(inputs, signal);
  }

  submit(request: EngineRequest, signal: AbortSignal): AsyncIterable<EngineEvent> {
    return this.http.submit(request, signal);
  }

  cancel(taskId: string): Promise<void> {
    return this.http.cancel(taskId);
  }

  /** Stops the process group (SIGTERM, grace, SIGKILL) and removes the pid file; idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.http.close();
      const proc = this.proc;
      if (!proc) return;
      proc.markStopRequested();
      await stopGroup(proc, { graceMs: this.options.stopGraceMs ?? 5000, pidPath: proc.pidPath, clock: this.options.clock });
    })();
    return this.closing;
  }
}
