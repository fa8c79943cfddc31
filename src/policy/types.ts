// The contracts of the security policy (threat model §2, §4, §5): access rules, bans,
// connection limits and the brute-force throttle. The gate (src/net) and the auth engine
// (src/auth) use these; implementations live beside this file and keep their state in memory,
// except bans, which persist through the Store.

import type { Ban } from "../store/types.js";

export interface AccessDecision {
  allowed: boolean;
  /** The rule that decided ("allow 192.0.2.0/24 (listener imap)"), or null when nothing matched. */
  rule: string | null;
}

export interface AccessPolicy {
  /** TCP-Wrappers order: the listener's allow rules, then its deny rules, then the global allow
   * and deny rules; the first match decides; no match means allowed. */
  check(listenerName: string, ip: string): AccessDecision;
}

export interface BanList {
  /** The ban covering `ip` (an exact address or a network containing it), or null. In-memory,
   * no I/O: called for every new connection. Expired bans are ignored. */
  find(ip: string): Ban | null;
  /** Bans `subject` (address or CIDR). Without `durationMs`, the period grows with each offence
   * (auth.ban_duration doubling up to auth.max_ban_duration). Addresses in auth.never_ban are not
   * banned (returns null). Persists through the Store and logs ban.added. */
  ban(subject: string, reason: string, durationMs?: number | null): Promise<Ban | null>;
  /** Lifts a ban; logs ban.lifted. False when there was none. */
  lift(subject: string): Promise<boolean>;
  list(): Ban[];
}

export type Admission =
  | { ok: true; release: () => void }
  | { ok: false; reason: "too-many-connections" | "rate" };

export interface ConnectionLimiter {
  /** Admits a new connection from `ip` against limits.max_connections, max_connections_per_ip
   * (IPv6 counted per /64) and max_new_connections_per_ip_per_minute. */
  admit(ip: string): Admission;
  /** Claims a session slot of an account (limits.max_sessions_per_account). */
  claimAccount(accountId: number): (() => void) | null;
  readonly active: number;
}

export type ThrottleVerdict =
  | { action: "proceed"; delayMs: number }
  | { action: "refuse"; reason: "banned" | "throttled"; retryAfterMs: number };

export interface AuthThrottle {
  /** Before a password is checked: the delay to impose (grows with this IP's, network's and
   * account's recent failures), or a refusal. An account under attack from many IPs is slowed,
   * never refused for an IP that has not failed itself. */
  before(ip: string, username: string): ThrottleVerdict;
  /** Records a failure; bans the IP (or network) when its threshold is passed. */
  failure(ip: string, username: string): Promise<{ banned: boolean }>;
  /** Records a success (clears the IP's failure count for that account). */
  success(ip: string, username: string): void;
}
