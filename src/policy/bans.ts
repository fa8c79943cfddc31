// The ban list: addresses and networks refused before the greeting (threat model §2), persisted
// through the Store so bans survive restarts and can be managed from the CLI while running.
//
// Invariants:
// - find() is synchronous and does no I/O: bans are indexed in memory by (family, prefix length),
//   so a lookup costs one masked Map lookup per distinct prefix length in use (a handful).
// - Subjects are kept in canonical text ("192.0.2.7", "2001:db8:1:2::/64"; see cidr.ts), so
//   "::ffff:192.0.2.7" and "192.0.2.7" are one subject.
// - An expired ban is never returned; it leaves the index the first time it is seen expired.
// - Offences are remembered after a ban expires (the store keeps the expired row with its
//   `offences`), so a repeat offender is banned for ban_duration × 2^(offences−1), capped at
//   max_ban_duration. A row expired for longer than max_ban_duration is forgotten (deleted).
// - Addresses inside auth.never_ban are never banned: ban() refuses a subject wholly inside them,
//   and find() never returns a ban for such an address even when a wider network is banned.
// - The store is the truth: refresh() rebuilds the index from it (picking up `portcullis ban`
//   changes made by another process). Mutations and refreshes are serialised, so a refresh can
//   never undo a ban made while it was reading.

import type { Config } from "../config/schema.js";
import type { Ban, Store } from "../store/types.js";
import { audit, type AuditLogger } from "../log/audit.js";
import type { BanList } from "./types.js";
import { NetworkList, familyBits, formatCidr, parseCidr, prefixMask, tryParseIp, type Cidr, type IpFamily } from "./cidr.js";

/** The part of the Store the ban list needs (tests use a small fake). */
export type BanStore = Pick<Store, "putBan" | "getBans" | "deleteBan">;

export interface BanListOptions {
  store: BanStore;
  auth: Pick<Config["auth"], "ban_duration" | "max_ban_duration" | "never_ban">;
  log: AuditLogger;
  now?: () => number;
}

interface Entry {
  key: string; // canonical subject
  net: Cidr;
  ban: Ban;
  storedSubject: string; // the subject as the store spells it (for deleteBan)
  indexed: boolean; // in the active index
  unsaved: boolean; // putBan failed; retried on the next refresh
}

interface PrefixGroup {
  family: IpFamily;
  prefix: number;
  mask: bigint;
  byBase: Map<bigint, Entry>;
}

function isActive(ban: Ban, now: number): boolean {
  return ban.expiresAt === null || ban.expiresAt.getTime() > now;
}

export class PersistentBanList implements BanList {
  private readonly store: BanStore;
  private readonly log: AuditLogger;
  private readonly now: () => number;
  private readonly neverBan: NetworkList;
  private readonly baseMs: number;
  private readonly maxMs: number;
  /** Every known subject: active bans and expired ones still remembered for their offences. */
  private entries = new Map<string, Entry>();
  /** Active bans by "family/prefix", longest prefixes first. */
  private groups: PrefixGroup[] = [];
  private chain: Promise<unknown> = Promise.resolve();
  private loaded = false;

  constructor(o: BanListOptions) {
    this.store = o.store;
    this.log = o.log;
    this.now = o.now ?? Date.now;
    this.neverBan = NetworkList.parse(o.auth.never_ban, "auth.never_ban");
    this.baseMs = o.auth.ban_duration;
    this.maxMs = Math.max(o.auth.max_ban_duration, o.auth.ban_duration);
  }

  /** A ban list loaded from the store. */
  static async load(o: BanListOptions): Promise<PersistentBanList> {
    const list = new PersistentBanList(o);
    await list.refresh();
    return list;
  }

  /** The ban period of the n-th offence (n ≥ 1). */
  periodFor(offences: number): number {
    const n = Math.max(1, Math.floor(offences));
    return Math.min(this.maxMs, this.baseMs * 2 ** Math.min(n - 1, 60));
  }

  find(ip: string): Ban | null {
    const addr = tryParseIp(ip);
    if (!addr || this.neverBan.match(addr) !== null) return null;
    const now = this.now();
    for (const g of this.groups) {
      if (g.family !== addr.family) continue;
      const e = g.byBase.get(addr.value & g.mask);
      if (!e) continue;
      if (isActive(e.ban, now)) return e.ban;
      this.unindex(e, "expired");
    }
    return null;
  }

  list(): Ban[] {
    const now = this.now();
    const out: Ban[] = [];
    for (const e of this.entries.values()) {
      if (!e.indexed) continue;
      if (isActive(e.ban, now)) out.push(e.ban);
      else this.unindex(e, "expired");
    }
    return out.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
  }

  /** Bans `subject`. `durationMs` undefined: the growing period; null (or Infinity): permanent;
   * a positive number: exactly that long. Banning a subject that is already banned without a
   * duration returns the existing ban (it is not counted as a new offence). Rejects with an
   * AddressError when `subject` is not an address or network. */
  async ban(subject: string, reason: string, durationMs?: number | null): Promise<Ban | null> {
    const net = parseCidr(subject);
    if (durationMs !== undefined && durationMs !== null && !(durationMs > 0)) throw new RangeError(`ban duration must be positive, not ${durationMs}`);
    const key = formatCidr(net);
    if (this.neverBan.covers(net)) {
      this.log.info({ subject: key, reason }, "not banned: inside auth.never_ban");
      return null;
    }
    return this.serialised(async () => {
      const now = this.now();
      const prev = this.entries.get(key);
      const active = prev !== undefined && isActive(prev.ban, now);
      if (prev && active && durationMs === undefined) return prev.ban;
      const offences = prev && active ? prev.ban.offences : (prev?.ban.offences ?? 0) + 1;
      const period = durationMs === undefined ? this.periodFor(offences) : durationMs;
      const expiresAt = period === null || period === Infinity ? null : new Date(now + period);
      const ban: Ban = { subject: key, reason, createdAt: new Date(now), expiresAt, offences };
      if (prev) this.unindex(prev, null);
      const entry: Entry = { key, net, ban, storedSubject: key, indexed: false, unsaved: true };
      this.entries.set(key, entry);
      this.index(entry); // in force at once, even if the store is slow or failing
      audit(this.log, "ban.added", { subject: key, reason, offences, expiresAt: expiresAt?.toISOString() ?? null }, "warn");
      try {
        if (prev && prev.storedSubject !== key) await this.store.deleteBan(prev.storedSubject);
        await this.store.putBan(ban);
        entry.unsaved = false;
      } catch (err) {
        // Still enforced in memory; refresh() retries the write.
        this.log.error({ err, subject: key }, "ban not persisted; will retry");
      }
      return ban;
    });
  }

  /** Lifts the ban on `subject` and forgets its offences. False when no ban was in force. */
  async lift(subject: string): Promise<boolean> {
    const key = formatCidr(parseCidr(subject));
    return this.serialised(async () => {
      const now = this.now();
      const rows = (await this.store.getBans()).filter((b) => canonical(b.subject) === key);
      const e = this.entries.get(key);
      const wasActive = rows.some((b) => isActive(b, now)) || (e !== undefined && isActive(e.ban, now));
      for (const row of rows) await this.store.deleteBan(row.subject);
      if (e) {
        this.unindex(e, null);
        this.entries.delete(key);
      }
      if (wasActive) audit(this.log, "ban.lifted", { subject: key, via: "lift" });
      return wasActive;
    });
  }

  /** Reloads every ban from the store: bans added or deleted by another process (the CLI) take
   * effect here. Also retries unsaved bans and deletes rows whose offences are forgotten. */
  async refresh(): Promise<void> {
    return this.serialised(async () => {
      for (const e of this.entries.values()) {
        if (!e.unsaved) continue;
        try {
          await this.store.putBan(e.ban);
          e.unsaved = false;
        } catch (err) {
          this.log.error({ err, subject: e.key }, "ban still not persisted");
        }
      }
      const rows = await this.store.getBans();
      const now = this.now();
      const before = new Map<string, Ban>();
      for (const e of this.entries.values()) {
        if (e.indexed && isActive(e.ban, now)) before.set(e.key, e.ban);
        else this.unindex(e, "expired");
      }
      const next = new Map<string, Entry>();
      for (const row of rows) {
        let net: Cidr;
        try {
          net = parseCidr(row.subject);
        } catch {
          this.log.warn({ subject: row.subject }, "ignoring stored ban with an invalid subject");
          continue;
        }
        // Forget offences of a ban expired for longer than the longest ban period.
        if (row.expiresAt !== null && row.expiresAt.getTime() + this.maxMs <= now) {
          await this.store.deleteBan(row.subject);
          continue;
        }
        const key = formatCidr(net);
        const other = next.get(key);
        if (other && !laterThan(row, other.ban)) continue; // two spellings of one subject
        next.set(key, { key, net, ban: { ...row, subject: key }, storedSubject: row.subject, indexed: false, unsaved: false });
      }
      for (const e of this.entries.values()) if (e.unsaved && !next.has(e.key)) next.set(e.key, e);

      this.entries = next;
      this.groups = [];
      for (const e of next.values()) {
        e.indexed = false;
        if (isActive(e.ban, now)) this.index(e);
      }

      if (this.loaded) {
        for (const [key, ban] of before) {
          const cur = this.entries.get(key);
          if (!cur || !cur.indexed) audit(this.log, "ban.lifted", { subject: key, reason: ban.reason, via: "store" });
        }
        for (const e of this.entries.values()) {
          if (e.indexed && !before.has(e.key)) audit(this.log, "ban.added", { subject: e.key, reason: e.ban.reason, offences: e.ban.offences, expiresAt: e.ban.expiresAt?.toISOString() ?? null, via: "store" }, "warn");
        }
      }
      this.loaded = true;
    });
  }

  private index(e: Entry): void {
    let g = this.groups.find((x) => x.family === e.net.family && x.prefix === e.net.prefix);
    if (!g) {
      g = { family: e.net.family, prefix: e.net.prefix, mask: prefixMask(e.net.family, e.net.prefix), byBase: new Map() };
      this.groups.push(g);
      // Most specific first: an address ban is reported rather than the network around it.
      this.groups.sort((a, b) => b.prefix / familyBits(b.family) - a.prefix / familyBits(a.family));
    }
    g.byBase.set(e.net.base, e);
    e.indexed = true;
  }

  /** Takes an entry out of the active index; `why` "expired" logs ban.lifted. */
  private unindex(e: Entry, why: "expired" | null): void {
    if (!e.indexed) return;
    e.indexed = false;
    const i = this.groups.findIndex((x) => x.family === e.net.family && x.prefix === e.net.prefix);
    const g = this.groups[i];
    if (g && g.byBase.get(e.net.base) === e) {
      g.byBase.delete(e.net.base);
      if (g.byBase.size === 0) this.groups.splice(i, 1);
    }
    if (why) audit(this.log, "ban.lifted", { subject: e.key, reason: e.ban.reason, via: why });
  }

  private serialised<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.chain.then(fn, fn);
    this.chain = p.catch(() => undefined);
    return p;
  }
}

function canonical(subject: string): string | null {
  try {
    return formatCidr(parseCidr(subject));
  } catch {
    return null;
  }
}

/** Of two rows for one subject, the one in force longer (permanent wins), then more offences. */
function laterThan(a: Ban, b: Ban): boolean {
  const ea = a.expiresAt?.getTime() ?? Infinity;
  const eb = b.expiresAt?.getTime() ?? Infinity;
  return ea !== eb ? ea > eb : a.offences > b.offences;
}

/** Loads the ban list from the store. */
export async function createBanList(o: BanListOptions): Promise<PersistentBanList> {
  return PersistentBanList.load(o);
}
