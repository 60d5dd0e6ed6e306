// What the sessions routes need from the control plane; implemented by actors/control/sessions
// so that adapters never import the domain.

import type { SessionInfoV2 } from "./schemas-sessions.ts";

export interface SessionsPort {
  /** Undefined for an unknown or expired session. */
  get(id: string): Promise<SessionInfoV2 | undefined>;
  /** Forgets the session; a no-op for an unknown one. */
  delete(id: string): Promise<void>;
}
