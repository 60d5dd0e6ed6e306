// Models on the node: what a pool's `model` string names, fetching remote files into the model
// cache (behind the allow-downloads switch), sha256 verification, and preparation-step progress.

export { DEFAULT_HF_BASE_URL, ModelError, hfUrl, modelId, parseModelRef, type ModelErrorCode, type ModelRef, type ParseOptions } from "./ref.ts";
export {
  DigestMismatch,
  DownloadFailed,
  downloadModel,
  hashFile,
  normalizeSha256,
  progressThrottle,
  redactUrl,
  type DownloadOptions,
  type DownloadProgress,
  type DownloadResult,
} from "./download.ts";
export {
  cachePath,
  createResolveMemo,
  defaultModelCache,
  fileSha256,
  modelSettings,
  preparationStep,
  prepProgress,
  resolveModel,
  type ModelSettings,
  type PrepPhase,
  type PrepStatus,
  type PrepStep,
  type ResolvedModel,
  type ResolveMemo,
  type ResolveOptions,
} from "./resolve.ts";
export { FILE_ENGINES, missingModelFile } from "./local.ts";
export { cacheEntry, CacheUsers, purgeCachedModel, type CacheOptions, type PurgeResult } from "./cache.ts";
