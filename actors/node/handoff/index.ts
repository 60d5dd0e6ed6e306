// The node's handoff side: the watcher that binds externally started engines, and the parser of
// their handoff files.

export { HANDOFF_WATCHER_ID, handoffWatcher, handoffWatcherSpec, type HandoffWatcherOptions } from "./watcher.ts";
export {
  DEFAULT_HANDOFF_INTERVAL_MS,
  MAX_HANDOFF_BYTES,
  handoffSettings,
  parseDeviceMask,
  parseHandoff,
  type Handoff,
  type HandoffEngine,
  type HandoffParse,
  type HandoffSettings,
} from "./parse.ts";
export type {
  BoundHandoff,
  HandoffBind,
  HandoffFileError,
  HandoffOutcome,
  HandoffStatus,
  HandoffWatcherMsg,
  HandoffWatcherRef,
  HandoffWatcherReplies,
} from "./protocol.ts";
