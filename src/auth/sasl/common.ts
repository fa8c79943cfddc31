// What the SASL mechanisms share: size caps, strict UTF-8 decoding, and the hooks through which a
// mechanism reaches the authentication service (throttle, store, audit) without knowing it.
//
// Invariants: mechanisms are state machines over already base64-decoded client messages; they do
// no I/O of their own, only through SaslHooks, so the parsing can be tested without a server.

import type { Account, ScramCredentials } from "../../store/types.js";
import type { AuthFailureReason, PasswordResult, SaslStep } from "../types.js";

/** RFC 4616 §2: servers must accept authzid, authcid and passwd of up to 255 octets each; we
 * accept up to 1024, which no real address or password reaches. */
export const SASL_MAX_FIELD = 1024;
/** Largest client message any mechanism here accepts (PLAIN: three fields and two NULs; SCRAM
 * messages are far smaller). The protocols' line limits (src/net/limits.ts) are larger. */
export const SASL_MAX_MESSAGE = 3 * SASL_MAX_FIELD + 2;

export type SaslFailure = Extract<SaslStep, { kind: "failure" }>;

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Decodes UTF-8 strictly: invalid sequences (stray 8-bit bytes) give null. */
export function decodeUtf8(bytes: Uint8Array): string | null {
  try {
    return utf8.decode(bytes);
  } catch {
    return null;
  }
}

export function failure(reason: AuthFailureReason, message: string): SaslFailure {
  return { kind: "failure", reason, message };
}

export type ScramLookup =
  | { kind: "refused"; step: SaslFailure }
  /** account and scram are null for an unknown or disabled account, or one without a password:
   * the mechanism then runs a fake exchange that fails at the end. */
  | { kind: "proceed"; account: Account | null; scram: ScramCredentials | null };

export interface SaslHooks {
  /** PLAIN and LOGIN: the full password check (throttle, pool, audit). */
  verifyPassword(username: string, password: string): Promise<PasswordResult>;
  /** SCRAM: the throttle and the account lookup, once the user name is known. */
  begin(username: string): Promise<ScramLookup>;
  /** SCRAM: records a success (throttle, audit). */
  succeed(account: Account): void;
  /** Records a failure and returns the step to answer with. `guess` says whether it was a
   * password attempt (counted by the brute-force throttle) rather than a syntax error; a counted
   * failure may come back as "banned". */
  fail(reason: AuthFailureReason, message: string, username: string | null, guess: boolean): Promise<SaslFailure>;
}

export function fromPasswordResult(result: PasswordResult): SaslStep {
  if (result.ok) return { kind: "success", account: result.account, data: null };
  return failure(result.reason, result.message);
}
