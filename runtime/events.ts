// Inspection events: what tests and metrics observe about the actor system.

export type InspectEvent =
  | { type: "spawned"; path: string }
  | { type: "delivered"; path: string; msg: string }
  | { type: "failed"; path: string; error: string }
  /** A handler threw on one message and the actor, set to resume, kept running (see SpawnOptions). */
  | { type: "message-failed"; path: string; msg: string; error: string }
  | { type: "restarted"; path: string; attempt: number; delayMs: number }
  | { type: "stopped"; path: string; reason: string }
  | { type: "dead-letter"; path: string; msg: string; reason: DeadLetterReason }
  | { type: "escalated"; path: string; reason: string };

export type DeadLetterReason = "full" | "stopped" | "dropped" | "expired" | "unreachable";

export type Listener<E> = (event: E) => void;

/** A tiny synchronous event bus; listeners must not throw (errors are swallowed and ignored). */
export class EventBus<E> {
  private listeners = new Set<Listener<E>>();

  get active(): boolean {
    return this.listeners.size > 0;
  }

  on(listener: Listener<E>): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  emit(event: E): void {
    for (const l of this.listeners) {
      try {
        l(event);
      } catch {
        // An observer must never break the system it observes.
      }
    }
  }

  /** Resolves with the first event matching `pred`. */
  next<T extends E>(pred: (e: E) => e is T): Promise<T>;
  next(pred: (e: E) => boolean): Promise<E>;
  next(pred: (e: E) => boolean): Promise<E> {
    return new Promise((resolve) => {
      const off = this.on((e) => {
        if (pred(e)) {
          off();
          resolve(e);
        }
      });
    });
  }
}
