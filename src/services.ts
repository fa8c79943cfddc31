// What every protocol session is given: the validated configuration, the store, the
// authentication engine and the root logger. Built once by `serve` (src/cli) and passed down;
// there are no module-level singletons, so tests can build their own.

import type { Config } from "./config/schema.js";
import type { Store } from "./store/types.js";
import type { AuthService } from "./auth/types.js";
import type { AuditLogger } from "./log/audit.js";

export interface Services {
  readonly config: Config;
  /** Absolute path of the data directory. */
  readonly dataDir: string;
  readonly store: Store;
  readonly auth: AuthService;
  readonly log: AuditLogger;
}
