// The authentication service: the one place every login of every protocol goes through
// (threat model §1, §2, §4, §6).
//
// For each attempt, in order: no password on a connection that is not encrypted; the brute-force
// throttle (delay or refuse); a cap on verifications in flight per client IP; the account lookup;
// the argon2id check in the bounded pool (or the SCRAM proof); then the throttle is told the
// outcome and one audit event is written.
//
// Invariants:
// - Every attempt that reaches a result logs exactly one auth.success or auth.failure, with the
//   user name, IP, protocol, mechanism, reason and connection id, and never the password.
// - Unknown user, disabled account, account without a password and wrong password give the same
//   answer ("invalid-credentials") after the same work (an argon2 verify against a dummy hash;
//   a fake SCRAM exchange), so the answer does not tell which it was. The audit log says which.
// - Only password guesses are counted as failures by the throttle, not syntax errors, refusals
//   or cancelled attempts.
// - User names are full addresses, compared lower-cased.
// - The per-IP cap counts an IPv4 address or an IPv6 /64 as one client.

import { createHmac, randomBytes } from "node:crypto";
import { setTimeout as delay } from "node:timers/promises";
import type { Config } from "../config/schema.js";
import { audit, type AuditLogger } from "../log/audit.js";
import { networkKey } from "../policy/cidr.js";
import type { AuthThrottle } from "../policy/types.js";
import type { Account, Store } from "../store/types.js";
import { DUMMY_HASH, PasswordHasher } from "./passwords.js";
import { saslprep } from "./saslprep.js";
import { KeyedLimiter } from "./semaphore.js";
import { failure, SASL_MAX_FIELD, type SaslFailure, type SaslHooks, type ScramLookup } from "./sasl/common.js";
import { LoginExchange } from "./sasl/login.js";
import { PlainExchange } from "./sasl/plain.js";
import { SCRAM_SHA_256, SCRAM_SHA_256_PLUS, ScramExchange } from "./sasl/scram.js";
import type { AuthContext, AuthFailureReason, AuthService, PasswordResult, SaslExchange, SaslStep } from "./types.js";

/** Mechanisms we implement, in preference order (RFC 4422 §3.1: the server lists, the client picks). */
export const MECHANISMS = [SCRAM_SHA_256_PLUS, SCRAM_SHA_256, "PLAIN", "LOGIN"] as const;

/** What the client is told for each reason. Protocols may use their own wording. */
export const FAILURE_MESSAGES: Record<AuthFailureReason, string> = {
  "invalid-credentials": "authentication failed",
  malformed: "malformed authentication message",
  aborted: "authentication cancelled",
  throttled: "too many failed logins, try again later",
  banned: "too many failed logins, this address is banned",
  "encryption-required": "password authentication requires TLS (use STARTTLS or the TLS port)",
  unsupported: "unsupported authentication mechanism",
};

export interface AuthServiceOptions {
  config: Config;
  /** Only account lookup is needed. */
  store: Pick<Store, "getAccount">;
  log: AuditLogger;
  throttle: AuthThrottle;
  /** The argon2 pool; by default one of `config.auth.hash_workers` workers. */
  hasher?: PasswordHasher;
  /** For tests: how a throttle delay is waited for. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Secret for the fake SCRAM salts of unknown users; random per service by default. */
  fakeSaltSecret?: Buffer;
}

type Failure = { ok: false; reason: AuthFailureReason; message: string };

/** User names are addresses, compared case-insensitively (src/store/types.ts stores them lower-cased). */
export function normalizeUsername(username: string): string {
  return username.toLowerCase();
}

/** The unit the per-IP cap counts: the IPv4 address or the IPv6 /64 (one subscriber holds a
 * whole /64 and could rotate through it), as the policy's limiter and throttle count clients. */
export function clientKey(ip: string): string {
  try {
    return networkKey(ip, 32, 64);
  } catch {
    return `?${ip.slice(0, 64)}`;
  }
}

/** A log-safe rendering of what the client sent as user name (bounded). */
function logName(username: string | null): string | null {
  if (username === null) return null;
  return username.length > 256 ? `${username.slice(0, 256)}…` : username;
}

function usableAccount(account: Account | null): (Account & { credentials: NonNullable<Account["credentials"]> }) | null {
  if (account === null || account.disabled || account.credentials === null) return null;
  return account as Account & { credentials: NonNullable<Account["credentials"]> };
}

function whyUnusable(account: Account | null): string {
  if (account === null) return "unknown user";
  if (account.disabled) return "account disabled";
  return "no password set";
}

const defaultSleep = (ms: number, signal?: AbortSignal): Promise<void> => delay(ms, undefined, signal ? { signal } : {});

/** An exchange refused before it starts: its first step fails (and is audited once). */
class RefusedExchange implements SaslExchange {
  #result: Promise<SaslFailure> | null = null;
  constructor(
    readonly mechanism: string,
    private readonly refuse: () => SaslFailure,
  ) {}
  step(): Promise<SaslStep> {
    if (this.#result) return Promise.resolve(failure("malformed", "the exchange is over"));
    this.#result = Promise.resolve(this.refuse());
    return this.#result;
  }
}

export class DefaultAuthService implements AuthService {
  readonly #store: Pick<Store, "getAccount">;
  readonly #log: AuditLogger;
  readonly #throttle: AuthThrottle;
  readonly #hasher: PasswordHasher;
  readonly #perIp: KeyedLimiter;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly #fakeSaltSecret: Buffer;

  constructor(o: AuthServiceOptions) {
    this.#store = o.store;
    this.#log = o.log;
    this.#throttle = o.throttle;
    this.#hasher = o.hasher ?? new PasswordHasher(o.config.auth.hash_workers);
    this.#perIp = new KeyedLimiter(o.config.auth.max_concurrent_per_ip);
    this.#sleep = o.sleep ?? defaultSleep;
    this.#fakeSaltSecret = o.fakeSaltSecret ?? randomBytes(32);
  }

  /** The argon2 pool (for `makeCredentials` callers that want to share it). */
  get hasher(): PasswordHasher {
    return this.#hasher;
  }

  mechanisms(ctx: Pick<AuthContext, "secure" | "passwordAuthAllowed" | "channelBinding">): string[] {
    if (!ctx.passwordAuthAllowed) return [];
    return MECHANISMS.filter((m) => m !== SCRAM_SHA_256_PLUS || channelBindingAvailable(ctx));
  }

  startSasl(mechanism: string, ctx: AuthContext): SaslExchange {
    const mech = mechanism.toUpperCase().slice(0, 64); // bounded: it goes into the audit log
    const refuse = (reason: AuthFailureReason, message: string) =>
      new RefusedExchange(mech, () => toStep(this.#failed(ctx, mech, null, reason, message)));
    if (!(MECHANISMS as readonly string[]).includes(mech)) return refuse("unsupported", FAILURE_MESSAGES.unsupported);
    if (!ctx.passwordAuthAllowed) return refuse("encryption-required", FAILURE_MESSAGES["encryption-required"]);
    const hooks = this.#hooks(mech, ctx);
    if (mech === "PLAIN") return new PlainExchange(hooks);
    if (mech === "LOGIN") return new LoginExchange(hooks);
    const cbAvailable = channelBindingAvailable(ctx);
    if (mech === SCRAM_SHA_256_PLUS && !cbAvailable) return refuse("unsupported", "channel binding is not available on this connection");
    return new ScramExchange({
      plus: mech === SCRAM_SHA_256_PLUS,
      serverSupportsPlus: cbAvailable,
      channelBinding: ctx.channelBinding,
      hooks,
      fakeSalt: (username) => this.#fakeSalt(username),
    });
  }

  /** A protocol's own login command (IMAP LOGIN, POP3 USER/PASS); audited as mechanism "password". */
  verifyPassword(username: string, password: string, ctx: AuthContext): Promise<PasswordResult> {
    return this.#verify("password", username, password, ctx);
  }

  async #verify(mechanism: string, username: string, password: string, ctx: AuthContext): Promise<PasswordResult> {
    const user = normalizeUsername(username);
    // Threat model §1: no password on a cleartext connection.
    if (!ctx.passwordAuthAllowed) return this.#failed(ctx, mechanism, user, "encryption-required", FAILURE_MESSAGES["encryption-required"]);
    const gate = await this.#gate(ctx, mechanism, user, true);
    if (!gate.ok) return gate;
    try {
      const account = await this.#store.getAccount(user);
      const usable = usableAccount(account);
      let prepared: string | null = null;
      try {
        if (password.length > 0 && password.length <= SASL_MAX_FIELD) prepared = saslprep(password);
      } catch {
        prepared = null; // a password that cannot be SASLprep'd cannot match a stored one
      }
      // Same work whether or not the account can log in: verify against a dummy hash otherwise.
      const phc = usable && prepared !== null ? usable.credentials.passwordHash : DUMMY_HASH;
      let match: boolean;
      try {
        match = await this.#hasher.verify(phc, prepared ?? "", ctx.signal);
      } catch (err) {
        if (ctx.signal?.aborted) return this.#failed(ctx, mechanism, user, "aborted", FAILURE_MESSAGES.aborted);
        throw err;
      }
      if (match && usable && prepared !== null) {
        this.#succeeded(ctx, mechanism, usable);
        return { ok: true, account: usable };
      }
      const detail = usable ? (prepared === null ? "password cannot be used" : "wrong password") : whyUnusable(account);
      return await this.#guessFailed(ctx, mechanism, user, detail);
    } finally {
      gate.release();
    }
  }

  /** The throttle, then (for password checks) a slot among this IP's verifications in flight
   * (waiting in line behind the IP's other logins, refused only when too many wait), then the
   * throttle's delay. */
  async #gate(ctx: AuthContext, mechanism: string, user: string, claimSlot: boolean): Promise<{ ok: true; release: () => void } | Failure> {
    const ip = ctx.remoteAddress;
    const verdict = this.#throttle.before(ip, user);
    if (verdict.action === "refuse") {
      return this.#failed(ctx, mechanism, user, verdict.reason, FAILURE_MESSAGES[verdict.reason], { retryAfterMs: verdict.retryAfterMs });
    }
    let release = () => {};
    if (claimSlot) {
      let slot: (() => void) | null;
      try {
        slot = await this.#perIp.acquire(clientKey(ip), ctx.signal);
      } catch (err) {
        if (ctx.signal?.aborted) return this.#failed(ctx, mechanism, user, "aborted", FAILURE_MESSAGES.aborted);
        throw err;
      }
      if (slot === null) {
        return this.#failed(ctx, mechanism, user, "throttled", "too many logins in progress from this address, try again later", {
          detail: "max_concurrent_per_ip",
        });
      }
      release = slot;
    }
    if (verdict.delayMs > 0) {
      try {
        await this.#sleep(verdict.delayMs, ctx.signal);
      } catch (err) {
        release();
        if (ctx.signal?.aborted) return this.#failed(ctx, mechanism, user, "aborted", FAILURE_MESSAGES.aborted);
        throw err;
      }
    }
    return { ok: true, release };
  }

  #hooks(mechanism: string, ctx: AuthContext): SaslHooks {
    // What the audit log says about a failed SCRAM proof, from the lookup at client-first.
    let detail = "unknown user";
    return {
      verifyPassword: (username, password) => this.#verify(mechanism, username, password, ctx),
      begin: async (username): Promise<ScramLookup> => {
        const user = normalizeUsername(username);
        // SCRAM does no hashing on the server, so it takes no per-IP verification slot (an
        // abandoned exchange would hold it forever); the throttle applies as for passwords.
        const gate = await this.#gate(ctx, mechanism, user, false);
        if (!gate.ok) return { kind: "refused", step: toStep(gate) };
        const found = await this.#store.getAccount(user);
        const account = usableAccount(found);
        detail = account ? "wrong password" : whyUnusable(found);
        return { kind: "proceed", account, scram: account?.credentials.scram ?? null };
      },
      succeed: (account) => this.#succeeded(ctx, mechanism, account),
      fail: async (reason, message, username, guess) => {
        const user = username === null ? null : normalizeUsername(username);
        if (guess && user !== null) return toStep(await this.#guessFailed(ctx, mechanism, user, detail));
        return toStep(this.#failed(ctx, mechanism, user, reason, message));
      },
    };
  }

  /** A wrong password (or unknown user): counted by the throttle, which may ban the IP. */
  async #guessFailed(ctx: AuthContext, mechanism: string, user: string, detail: string): Promise<Failure> {
    const { banned } = await this.#throttle.failure(ctx.remoteAddress, user);
    if (banned) return this.#failed(ctx, mechanism, user, "banned", FAILURE_MESSAGES.banned, { detail });
    return this.#failed(ctx, mechanism, user, "invalid-credentials", FAILURE_MESSAGES["invalid-credentials"], { detail });
  }

  #failed(ctx: AuthContext, mechanism: string, user: string | null, reason: AuthFailureReason, message: string, extra: Record<string, unknown> = {}): Failure {
    audit(
      this.#log,
      "auth.failure",
      { username: logName(user), ip: ctx.remoteAddress, protocol: ctx.protocol, mechanism, reason, conn: ctx.connectionId, ...extra },
      "warn",
    );
    return { ok: false, reason, message };
  }

  #succeeded(ctx: AuthContext, mechanism: string, account: Account): void {
    this.#throttle.success(ctx.remoteAddress, account.address);
    audit(this.#log, "auth.success", {
      account: account.address,
      username: account.address,
      ip: ctx.remoteAddress,
      protocol: ctx.protocol,
      mechanism,
      conn: ctx.connectionId,
    });
  }

  #fakeSalt(username: string): Buffer {
    return createHmac("sha256", this.#fakeSaltSecret).update("scram-fake-salt\0").update(username).digest().subarray(0, 16);
  }
}

function channelBindingAvailable(ctx: Pick<AuthContext, "secure" | "channelBinding">): boolean {
  if (!ctx.secure || ctx.channelBinding === null) return false;
  try {
    return ctx.channelBinding() !== null;
  } catch {
    return false;
  }
}

function toStep(f: Failure): SaslFailure {
  return failure(f.reason, f.message);
}
