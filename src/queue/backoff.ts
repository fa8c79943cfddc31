// When to try a deferred message again: exponential backoff from `retry_initial`, doubling per
// attempt, capped at `retry_max`, never past the end of the message's `lifetime`. Pure.
//
// Invariant: the last attempt happens at (or just after) the end of the lifetime, so a message is
// given up only after it was tried at its deadline.

export interface RetryPolicy {
  initialMs: number;
  maxMs: number;
  lifetimeMs: number;
}

/** The delay after the `attempts`-th failed attempt (1-based): initial * 2^(attempts-1), capped. */
export function backoffDelay(attempts: number, p: Pick<RetryPolicy, "initialMs" | "maxMs">): number {
  const n = Math.max(1, Math.floor(attempts));
  const d = p.initialMs * 2 ** Math.min(n - 1, 40);
  return Math.min(Math.max(d, 0), Math.max(p.maxMs, p.initialMs));
}

export type RetryDecision = { kind: "retry"; at: Date } | { kind: "expired" };

/** After a failed attempt at `now`: the next attempt, or "expired" when the lifetime is over. */
export function nextAttempt(createdAt: Date, attempts: number, now: Date, p: RetryPolicy): RetryDecision {
  const deadline = createdAt.getTime() + p.lifetimeMs;
  if (now.getTime() >= deadline) return { kind: "expired" };
  const at = Math.min(now.getTime() + backoffDelay(attempts, p), deadline);
  return { kind: "retry", at: new Date(at) };
}

/** Whether the one delay notice is due (RFC 3464 "delayed"): pending long enough and not sent yet. */
export function delayNoticeDue(createdAt: Date, now: Date, afterMs: number, alreadySent: boolean): boolean {
  return !alreadySent && now.getTime() - createdAt.getTime() >= afterMs;
}
