// Connection limits (threat model §4): connections in total, concurrent connections per client,
// new connections per client per minute, and concurrent sessions per account.
//
// Invariants:
// - A "client" is an IPv4 address or an IPv6 /64 (one subscriber usually holds a whole /64, so
//   counting single IPv6 addresses would be no limit at all). Mapped IPv4 counts as IPv4.
// - Every admission either returns a release function or counts nothing. Release functions are
//   idempotent: calling one twice (close and error handlers both firing) frees one slot once.
// - The per-minute rate is a token bucket per client (capacity = the per-minute limit, refilled
//   continuously at that rate), so memory per client is O(1). Every attempt takes a token, even
//   one refused for another limit, so hammering is itself limited.
// - Memory is bounded: buckets unused for a minute (full again) are dropped, and beyond
//   `maxTrackedClients` the least recently used one is dropped (that client gets a fresh bucket).
// - The clock is injected; nothing here sleeps or sets timers.

import type { Config } from "../config/schema.js";
import type { Admission, ConnectionLimiter } from "./types.js";
import { networkKey } from "./cidr.js";

export interface LimiterOptions {
  limits: Pick<Config["limits"], "max_connections" | "max_connections_per_ip" | "max_new_connections_per_ip_per_minute" | "max_sessions_per_account">;
  now?: () => number;
  /** Upper bound on rate buckets kept (default 100 000). */
  maxTrackedClients?: number;
}

const MINUTE = 60_000;

interface Bucket {
  tokens: number;
  at: number; // when `tokens` was computed
}

/** The key a client is counted under: the IPv4 address, or the IPv6 /64. Unparsable input gets
 * a key of its own (still limited), never an exception on the accept path. */
export function clientKey(ip: string): string {
  try {
    return networkKey(ip, 32, 64);
  } catch {
    return `?${ip.slice(0, 64)}`;
  }
}

export class Limiter implements ConnectionLimiter {
  private readonly limits: LimiterOptions["limits"];
  private readonly now: () => number;
  private readonly maxTracked: number;
  private total = 0;
  private readonly perClient = new Map<string, number>();
  private readonly buckets = new Map<string, Bucket>(); // insertion order = least recently used first
  private readonly accounts = new Map<number, number>();

  constructor(o: LimiterOptions) {
    this.limits = o.limits;
    this.now = o.now ?? Date.now;
    this.maxTracked = o.maxTrackedClients ?? 100_000;
  }

  get active(): number {
    return this.total;
  }

  /** Concurrent connections of the client `ip` belongs to (for tests and metrics). */
  connectionsOf(ip: string): number {
    return this.perClient.get(clientKey(ip)) ?? 0;
  }

  /** Rate buckets currently tracked (for tests and metrics). */
  get trackedClients(): number {
    return this.buckets.size;
  }

  admit(ip: string): Admission {
    const key = clientKey(ip);
    if (!this.takeToken(key)) return { ok: false, reason: "rate" };
    if (this.total >= this.limits.max_connections) return { ok: false, reason: "too-many-connections" };
    const mine = this.perClient.get(key) ?? 0;
    if (mine >= this.limits.max_connections_per_ip) return { ok: false, reason: "too-many-connections" };
    this.total++;
    this.perClient.set(key, mine + 1);
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        this.total--;
        const n = (this.perClient.get(key) ?? 1) - 1;
        if (n <= 0) this.perClient.delete(key);
        else this.perClient.set(key, n);
      },
    };
  }

  claimAccount(accountId: number): (() => void) | null {
    const n = this.accounts.get(accountId) ?? 0;
    if (n >= this.limits.max_sessions_per_account) return null;
    this.accounts.set(accountId, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.accounts.get(accountId) ?? 1) - 1;
      if (left <= 0) this.accounts.delete(accountId);
      else this.accounts.set(accountId, left);
    };
  }

  /** Sessions currently held by an account. */
  sessionsOf(accountId: number): number {
    return this.accounts.get(accountId) ?? 0;
  }

  private takeToken(key: string): boolean {
    const now = this.now();
    const capacity = this.limits.max_new_connections_per_ip_per_minute;
    const rate = capacity / MINUTE; // tokens per ms
    const old = this.buckets.get(key);
    let tokens = capacity;
    if (old) {
      tokens = Math.min(capacity, old.tokens + Math.max(0, now - old.at) * rate);
      this.buckets.delete(key); // re-inserted below: most recently used last
    }
    const ok = tokens >= 1;
    if (ok) tokens -= 1;
    this.buckets.set(key, { tokens, at: now });
    this.bound(now);
    return ok;
  }

  /** Drops buckets unused for a minute (they have refilled, so they equal no bucket) and the
   * least recently used beyond the cap. The map is in order of last use, so the sweep stops at
   * the first recent bucket: its cost is the number of buckets dropped. */
  private bound(now: number): void {
    for (const [k, b] of this.buckets) {
      if (now - b.at < MINUTE && this.buckets.size <= this.maxTracked) break;
      this.buckets.delete(k);
    }
  }
}

export function createLimiter(o: LimiterOptions): Limiter {
  return new Limiter(o);
}
