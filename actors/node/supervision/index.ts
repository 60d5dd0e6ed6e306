// The node's engine restart policy (docs/contract.md#supervision): crash reasons, backoff (runtime's
// `backoffDelay` with the engine's parameters), circuit breakers and the storm guard as pure
// functions of timestamps, combined in engine-policy; EngineSupervisor (../engine) wires it to
// the pool supervisor's `ChildSpec.restartDelay` hook, logs and metrics.

export {
  crashLabel,
  errorClass,
  ERROR_CLASSES,
  type CrashReason,
  type CrashLabel,
  type ErrorClass,
} from "./crash.ts";
export {
  backoffStable,
  engineBackoffDelay,
  nextBackoff,
  DEFAULT_ENGINE_BACKOFF,
  INITIAL_BACKOFF,
  type BackoffState,
  type EngineBackoffConfig,
} from "./backoff.ts";
export {
  breakerCheck,
  breakerFailure,
  breakerProbe,
  breakerReset,
  breakerRetryAt,
  breakerStable,
  breakerTrip,
  initialBreaker,
  DEFAULT_BREAKER,
  type BreakerConfig,
  type BreakerPhase,
  type BreakerResult,
  type BreakerState,
  type BreakerTransition,
} from "./breaker.ts";
export {
  classifyStorm,
  detectStorm,
  rateLimitRestart,
  restartsWithin,
  stormStable,
  DEFAULT_STORM,
  INITIAL_STORM,
  type RestartRecord,
  type StormConfig,
  type StormEvent,
  type StormState,
} from "./storm.ts";
export {
  breakerGauge,
  initialSupervision,
  nextStableCheckAt,
  onCrash,
  onRetryDue,
  onStableCheck,
  onStarted,
  override,
  reset,
  supervisionConfig,
  DEFAULT_SUPERVISION,
  type DecisionResult,
  type EnginePhase,
  type EngineSupervisionState,
  type PolicyResult,
  type RestartDecision,
  type SupervisionConfig,
  type SupervisionEvent,
} from "./engine-policy.ts";
