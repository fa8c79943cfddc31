// The authentication engine's entry points (see src/auth/types.ts for the contract).
//
// createAuthService builds the one AuthService a server uses; makeCredentials turns a new
// password into the stored secrets; checkPasswordStrength says whether a new password may be
// used. Nothing here keeps module-level state except the read-only common-password list.

import type { Config } from "../config/schema.js";
import type { AuditLogger } from "../log/audit.js";
import type { AuthThrottle } from "../policy/types.js";
import type { Credentials, Store } from "../store/types.js";
import { makeCredentials as make, type MakeCredentialsOptions } from "./passwords.js";
import { DefaultAuthService } from "./service.js";
import type { AuthService } from "./types.js";

export { checkPasswordStrength, commonPasswordListSize, MIN_PASSWORD_LENGTH } from "./password-policy.js";
export { saslprep, SaslprepError } from "./saslprep.js";
export { PasswordHasher, ARGON2_OPTIONS, SCRAM_ITERATIONS } from "./passwords.js";
export { DefaultAuthService, FAILURE_MESSAGES, MECHANISMS, normalizeUsername, type AuthServiceOptions } from "./service.js";
export type * from "./types.js";

export function createAuthService(o: { config: Config; store: Pick<Store, "getAccount">; log: AuditLogger; throttle: AuthThrottle }): AuthService {
  return new DefaultAuthService(o);
}

/** Turns a new password into the stored secrets (argon2id hash + SCRAM-SHA-256 verifier).
 * Throws a SaslprepError when the password holds characters that cannot be used; check
 * strength first with checkPasswordStrength. */
export async function makeCredentials(password: string, opts?: MakeCredentialsOptions): Promise<Credentials> {
  return make(password, opts);
}
