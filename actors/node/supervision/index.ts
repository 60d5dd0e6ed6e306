// Engine supervision policy: crash reasons, backoff, circuit breakers and the storm guard as pure
// functions of timestamps, combined in engine-policy for the replica.

export {
  crashLabel,
  errorClass,
  ERROR_CLASSES,
  type CrashReason,
  type CrashLabel,
  type ErrorClass,
} from "./crash.ts";
export { backoffDelay, backoffStable, nextBackoff, DEFAULT_BACKOFF, INITIAL_BACKOFF, type BackoffConfig, type BackoffState } from "./backoff.ts";
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
  admitRestart,
  classifyStorm,
  detectStorm,
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
