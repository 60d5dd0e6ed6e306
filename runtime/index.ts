export { RealClock, SimClock, flushMicrotasks, MAX_TIMER_MS, type Clock, type Timer } from "./clock.ts";
export {
  RuntimeError,
  AskTimeoutError,
  MailboxFullError,
  ActorStoppedError,
  ActorFailedError,
  UnreachableError,
  describe,
  isRuntimeErrorCode,
  RUNTIME_ERROR_CODES,
  type RuntimeErrorCode,
} from "./errors.ts";
export { Mailbox, DEFAULT_MAILBOX, type MailboxOptions, type OverflowPolicy } from "./mailbox.ts";
export { EventBus, type InspectEvent, type DeadLetterReason } from "./events.ts";
export {
  isActorRef,
  DEFAULT_ASK_TIMEOUT_MS,
  type ActorRef,
  type AskOptions,
  type Message,
  type ReplyHandle,
  type SendResult,
} from "./ref.ts";
export { ActorCell, type ActorContext, type ActorFactory, type Behavior, type ExitReason, type MessageFailure, type Outcome } from "./cell.ts";
export { ActorSystem, type SystemOptions, type SpawnOptions } from "./system.ts";
export {
  supervisor,
  startChild,
  SupervisorEscalation,
  type ChildExit,
  type ChildSpec,
  type RestartDelayHook,
  type SupervisorSpec,
  type SupervisorMsg,
  type SupervisorRef,
  type SupervisorReplies,
  type ChildInfo,
  type Strategy,
  type RestartType,
} from "./supervisor.ts";
export { checkRestartIntensity, DEFAULT_RESTART_INTENSITY, backoffDelay, type RestartIntensity, type BackoffPolicy } from "./policy.ts";
export { createLogger, textLine, type Logger, type LogFields, type LogFormat, type LogLevel, type LogSink } from "./log.ts";
export { schemaExample, structuredExample, type ExampleCall, type StructuredAsk } from "./structured-example.ts";
