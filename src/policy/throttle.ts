// The brute-force throttle (threat model §2): failed logins counted in a sliding window per
// client, per network and per account; a growing delay before each password check; bans when a
// client or network passes its threshold.
//
// Invariants:
// - A "client" is an IPv4 address or an IPv6 /64 (an IPv6 subscriber can rotate through the
//   addresses of its /64 at will, so a single IPv6 address is no unit of accounting). Networks
//   are the IPv4 /24 and the IPv6 /48. A client ban on IPv6 therefore bans the /64.
// - Thresholds are reached, not exceeded: the max_failures_per_ip-th failure within the window
//   bans the client, the max_failures_per_network-th bans the network, and from the
//   max_failures_per_account-th failure against an account its logins are slowed.
// - An account is never locked: failures against it (from anywhere) add a delay for everyone, but
//   a client is refused on account grounds only after it has failed against that account itself
//   (PAIR_REFUSE times) while the account is under attack. An attacker cannot lock the owner out.
// - Usernames are compared lower-cased. The window slides: each failure is forgotten
//   auth.failure_window after it happened. success() forgets that client's failures for that
//   account (from every counter they were added to).
// - Memory is bounded: each counter keeps at most the failures that can still matter (a few
//   more than its threshold), counters whose failures have all expired are dropped, and each map
//   holds at most `maxKeys` counters (least recently failed dropped first).
// - A client banned by this throttle stops adding to its network's delay (its failures still
//   count toward a network ban): once the only attacker in a /24 is banned, its neighbours log in
//   without waiting, while an attack spread over many addresses of the network still bans it.
// - The clock is injected; before() only computes a delay, the caller does the waiting.

import type { Config } from "../config/schema.js";
import type { AuditLogger } from "../log/audit.js";
import type { AuthThrottle, BanList, ThrottleVerdict } from "./types.js";
import { formatIp, networkKey, tryParseIp, type Ip } from "./cidr.js";

export interface ThrottleOptions {
  auth: Pick<Config["auth"], "max_failures_per_ip" | "max_failures_per_network" | "max_failures_per_account" | "failure_window" | "max_ban_duration">;
  bans: BanList;
  now?: () => number;
  log?: AuditLogger;
  /** Most counters kept in each of the client, network and account maps (default 20 000). */
  maxKeys?: number;
}

/** Delay after the first failure of a client; it doubles with each further failure. */
export const FIRST_DELAY_MS = 250;
/** The client/network part of the delay never exceeds this. */
export const MAX_CLIENT_DELAY_MS = 5_000;
/** The network part alone grows linearly to this at the network's threshold. */
export const MAX_NETWORK_DELAY_MS = 2_000;
/** An account under attack adds from ACCOUNT_DELAY_MIN_MS (at its threshold) to
 * ACCOUNT_DELAY_MAX_MS (at twice its threshold) for every client. */
export const ACCOUNT_DELAY_MIN_MS = 1_000;
export const ACCOUNT_DELAY_MAX_MS = 3_000;
/** Failures of one client against an account under attack after which that client (only) is
 * refused for that account until its failures age out of the window. */
export const PAIR_REFUSE = 5;
/** Longest username kept as a counter key; longer ones are cut (they still count). */
const MAX_ACCOUNT_KEY = 320;

interface Failure {
  t: number;
  client: string;
  account: string;
}

/** One counter: failures oldest first, at most `cap`. */
type Failures = Failure[];

interface Where {
  client: string; // counter key of the client
  banSubject: string | null; // what to ban for the client (null: unparsable address)
  networks: string[]; // counter keys (CIDR text) of its networks
}

export class SlidingThrottle implements AuthThrottle {
  private readonly auth: ThrottleOptions["auth"];
  private readonly bans: BanList;
  private readonly now: () => number;
  private readonly log: AuditLogger | undefined;
  private readonly maxKeys: number;
  private readonly clients = new Map<string, Failures>();
  private readonly networks = new Map<string, Failures>();
  private readonly accounts = new Map<string, Failures>();
  /** Clients this throttle banned, with the end of the ban (Infinity: no end); bounded like the
   * counters. */
  private readonly banned = new Map<string, number>();

  constructor(o: ThrottleOptions) {
    this.auth = o.auth;
    this.bans = o.bans;
    this.now = o.now ?? Date.now;
    this.log = o.log;
    this.maxKeys = o.maxKeys ?? 20_000;
  }

  before(ip: string, username: string): ThrottleVerdict {
    const now = this.now();
    const ban = this.bans.find(ip);
    if (ban) {
      const retryAfterMs = ban.expiresAt ? Math.max(1, ban.expiresAt.getTime() - now) : this.auth.max_ban_duration;
      return { action: "refuse", reason: "banned", retryAfterMs };
    }
    const where = locate(ip);
    const account = accountKey(username);
    const mine = this.current(this.clients, where.client, now);
    const accountFailures = this.current(this.accounts, account, now).length;

    if (accountFailures >= this.auth.max_failures_per_account) {
      const pair = mine.filter((f) => f.account === account);
      if (pair.length >= PAIR_REFUSE) {
        // Refused until enough of this client's own failures against the account age out.
        const freeing = pair[pair.length - PAIR_REFUSE]!;
        return { action: "refuse", reason: "throttled", retryAfterMs: Math.max(1, freeing.t + this.auth.failure_window - now) };
      }
    }

    let network = 0;
    for (const key of where.networks) {
      const failures = this.current(this.networks, key, now).filter((f) => !this.isBanned(f.client, now));
      network = Math.max(network, failures.length);
    }
    // At the ban threshold (a never_ban client, or a ban that failed) the delay is the longest.
    const clientDelay =
      mine.length === 0 ? 0 : mine.length >= this.auth.max_failures_per_ip ? MAX_CLIENT_DELAY_MS : FIRST_DELAY_MS * 2 ** Math.min(mine.length - 1, 20);
    const networkDelay = Math.floor((MAX_NETWORK_DELAY_MS * Math.min(network, this.auth.max_failures_per_network)) / this.auth.max_failures_per_network);
    let delayMs = Math.min(MAX_CLIENT_DELAY_MS, Math.max(clientDelay, networkDelay));
    if (accountFailures >= this.auth.max_failures_per_account) {
      const over = Math.min(1, (accountFailures - this.auth.max_failures_per_account) / this.auth.max_failures_per_account);
      delayMs += ACCOUNT_DELAY_MIN_MS + Math.floor((ACCOUNT_DELAY_MAX_MS - ACCOUNT_DELAY_MIN_MS) * over);
    }
    return { action: "proceed", delayMs };
  }

  async failure(ip: string, username: string): Promise<{ banned: boolean }> {
    const now = this.now();
    const where = locate(ip);
    const failure: Failure = { t: now, client: where.client, account: accountKey(username) };
    const a = this.auth;

    const clientCount = this.add(this.clients, where.client, failure, Math.max(a.max_failures_per_ip, PAIR_REFUSE), now);
    this.add(this.accounts, failure.account, failure, 2 * a.max_failures_per_account, now);
    const reached: string[] = [];
    for (const key of where.networks) {
      if (this.add(this.networks, key, failure, a.max_failures_per_network, now) >= a.max_failures_per_network) reached.push(key);
    }

    if (clientCount >= a.max_failures_per_ip && where.banSubject) {
      // A fresh count after the ban; the next ban is longer through the ban's offence count.
      const ban = await this.tryBan(where.banSubject, "auth failures");
      if (ban) {
        this.clients.delete(where.client);
        this.banned.delete(where.client);
        this.banned.set(where.client, ban.expiresAt ? ban.expiresAt.getTime() : Infinity);
        while (this.banned.size > this.maxKeys) this.banned.delete(this.banned.keys().next().value!);
      }
    }
    for (const key of reached) {
      if (await this.tryBan(key, "auth failures (network)")) this.networks.delete(key);
    }
    return { banned: this.bans.find(ip) !== null };
  }

  success(ip: string, username: string): void {
    const { client, networks } = locate(ip);
    const account = accountKey(username);
    const mineForAccount = (f: Failure) => f.client === client && f.account === account;
    this.forget(this.clients, client, mineForAccount);
    this.forget(this.accounts, account, mineForAccount);
    for (const key of networks) this.forget(this.networks, key, mineForAccount);
  }

  /** Failures in the window: of a client (IPv4 address or IPv6 /64), for tests and metrics. */
  failuresOf(ip: string): number {
    return this.current(this.clients, locate(ip).client, this.now()).length;
  }

  /** Failures in the window against an account. */
  failuresOfAccount(username: string): number {
    return this.current(this.accounts, accountKey(username), this.now()).length;
  }

  /** How many counters each map holds (memory bound checks). */
  sizes(): { clients: number; networks: number; accounts: number } {
    return { clients: this.clients.size, networks: this.networks.size, accounts: this.accounts.size };
  }

  private async tryBan(subject: string, reason: string): Promise<Awaited<ReturnType<BanList["ban"]>>> {
    try {
      return await this.bans.ban(subject, reason);
    } catch (err) {
      this.log?.error({ err, subject }, "could not ban");
      return null;
    }
  }

  private isBanned(client: string, now: number): boolean {
    const until = this.banned.get(client);
    if (until === undefined) return false;
    if (until > now) return true;
    this.banned.delete(client);
    return false;
  }

  /** The unexpired failures of a counter (expired ones are dropped). */
  private current(map: Map<string, Failures>, key: string, now: number): Failures {
    const list = map.get(key);
    if (!list) return [];
    const from = now - this.auth.failure_window;
    let drop = 0;
    while (drop < list.length && list[drop]!.t <= from) drop++;
    if (drop === list.length) {
      map.delete(key);
      return [];
    }
    if (drop > 0) list.splice(0, drop);
    return list;
  }

  /** Adds a failure to a counter (keeping at most `cap`); returns the count in the window. */
  private add(map: Map<string, Failures>, key: string, failure: Failure, cap: number, now: number): number {
    const list = this.current(map, key, now);
    map.delete(key); // re-inserted last: maps are in order of last failure
    list.push(failure);
    if (list.length > cap) list.splice(0, list.length - cap);
    map.set(key, list);
    this.bound(map, now);
    return list.length;
  }

  private forget(map: Map<string, Failures>, key: string, match: (f: Failure) => boolean): void {
    const list = map.get(key);
    if (!list) return;
    const kept = list.filter((f) => !match(f));
    if (kept.length === 0) map.delete(key);
    else map.set(key, kept);
  }

  /** Drops counters whose last failure left the window (the map is ordered by last failure, so
   * this stops at the first live one) and, beyond maxKeys, the least recently failed. */
  private bound(map: Map<string, Failures>, now: number): void {
    const from = now - this.auth.failure_window;
    for (const [key, list] of map) {
      const last = list[list.length - 1];
      if (last && last.t > from && map.size <= this.maxKeys) break;
      map.delete(key);
    }
  }
}

function accountKey(username: string): string {
  // Cut first: an attacker's megabyte-long "username" costs no more than a short one.
  return username.slice(0, MAX_ACCOUNT_KEY + 64).trim().toLowerCase().slice(0, MAX_ACCOUNT_KEY);
}

function locate(ip: string): Where {
  const a: Ip | null = tryParseIp(ip);
  if (!a) return { client: `?${ip.slice(0, 64)}`, banSubject: null, networks: [] };
  if (a.family === 4) {
    return { client: networkKey(a, 32, 64), banSubject: formatIp(a), networks: [networkKey(a, 24, 64)] };
  }
  const slash64 = networkKey(a, 32, 64);
  return { client: slash64, banSubject: slash64, networks: [networkKey(a, 32, 48)] };
}

export function createThrottle(o: ThrottleOptions): SlidingThrottle {
  return new SlidingThrottle(o);
}
