// Discovery: capabilities (GET /v2/meta/capabilities) and version (docs/contract.md#meta).

import { z } from "zod";

export const EngineCapability = z.object({
  engine: z.string(),
  ctx_max: z.number().int(),
  supported_workloads: z.array(z.string()),
  features: z.record(z.string(), z.unknown()),
  rate_limits: z.record(z.string(), z.unknown()),
  engine_versions: z.array(z.string()),
  /** Slots of ready pools of this engine on online nodes. */
  concurrency: z.number().int(),
  slots_total: z.number().int(),
  pools: z.number().int(),
  max_tokens_out: z.number().int(),
  batching: z.boolean(),
});

export const CapabilitiesV2 = z.object({
  api_version: z.string(),
  engines: z.array(EngineCapability),
});
export type CapabilitiesV2 = z.infer<typeof CapabilitiesV2>;

export const VersionV2 = z.object({ api_version: z.string(), build_commit: z.string(), build_time: z.string() });
export type VersionV2 = z.infer<typeof VersionV2>;

export const API_VERSION = "2.0.0";
