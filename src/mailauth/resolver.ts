// The DNS lookup function inbound mail authentication (verify.ts, through `mailauth`) uses:
// `(name, rrtype) => records`, built from `[outbound] dns_servers` when set, else the system
// resolver. Injectable: tests pass their own function (a fake zone) instead.
//
// Invariants:
// - The answer shapes are the ones mailauth expects from node:dns `resolve()`: TXT as string[][]
//   (one array of character-strings per record), A/AAAA/CNAME/PTR/NS as string[], MX as objects.
// - "No such name" and "no records of this type" are thrown as errors with code ENOTFOUND /
//   ENODATA (RFC 7208 §4.3 / §5: those are "none"/void answers, not temporary errors); every
//   other failure keeps node's code (ETIMEOUT, ESERVFAIL, ECONNREFUSED…), which mailauth reports
//   as temperror.

import { Resolver } from "node:dns/promises";
import type { Config } from "../config/schema.js";

export type DnsAnswer = string[][] | string[] | Array<{ exchange: string; priority: number }>;
/** What mailauth calls for every lookup. */
export type DnsLookup = (name: string, rrtype: string) => Promise<DnsAnswer>;

/** Per-query limits: a dead resolver costs at most timeoutMs × tries per lookup. */
export interface ResolverOptions {
  timeoutMs?: number;
  tries?: number;
}

/** A lookup function using `servers` ("1.2.3.4", "127.0.0.1:5353", "[::1]:53"), or the system's. */
export function createDnsLookup(servers: readonly string[], o: ResolverOptions = {}): DnsLookup {
  const r = new Resolver({ timeout: o.timeoutMs ?? 3_000, tries: o.tries ?? 2 });
  if (servers.length > 0) r.setServers([...servers]);
  return async (name, rrtype) => {
    switch (rrtype.toUpperCase()) {
      case "TXT":
        return r.resolveTxt(name);
      case "A":
        return r.resolve4(name);
      case "AAAA":
        return r.resolve6(name);
      case "MX":
        return r.resolveMx(name);
      case "CNAME":
        return r.resolveCname(name);
      case "PTR":
        return r.resolvePtr(name);
      case "NS":
        return r.resolveNs(name);
      default:
        throw Object.assign(new Error(`unsupported DNS record type ${rrtype}`), { code: "ENOTIMP" });
    }
  };
}

/** The lookup function for inbound checks, from the configuration (cached, see cachedLookup). */
export function dnsLookupFromConfig(config: Config, o: ResolverOptions = {}): DnsLookup {
  return cachedLookup(createDnsLookup(config.outbound.dns_servers, o));
}

/** Options of cachedLookup. node's resolver does not give TTLs for every type, so answers are kept
 * for a fixed, short time: at most `ttlMs` (default 60 s, below almost every published TTL). */
export interface CacheOptions {
  ttlMs?: number;
  /** Entries kept at most (the oldest go first). */
  max?: number;
  now?: () => number;
}

const NEGATIVE = new Set(["ENOTFOUND", "ENODATA"]);

/**
 * A cache in front of a lookup function, as a caching resolver would be (RFC 1035 §7.4; negative
 * answers too, RFC 2308 §5): mail from one domain (a list server, a big provider) costs one SPF
 * and one DMARC lookup a minute instead of one per message. Concurrent lookups of the same name
 * and type share one query. Only answers and "no such name / no such record" are kept; timeouts
 * and server failures are not (the next message asks again).
 */
export function cachedLookup(inner: DnsLookup, o: CacheOptions = {}): DnsLookup {
  const ttl = o.ttlMs ?? 60_000;
  const max = o.max ?? 10_000;
  const now = o.now ?? Date.now;
  const cache = new Map<string, { until: number; answer?: DnsAnswer; error?: unknown }>();
  const inflight = new Map<string, Promise<DnsAnswer>>();
  return (name, rrtype) => {
    const key = `${rrtype.toUpperCase()} ${name.toLowerCase().replace(/\.$/, "")}`;
    const hit = cache.get(key);
    if (hit && hit.until > now()) return hit.error !== undefined ? Promise.reject(hit.error) : Promise.resolve(hit.answer!);
    if (hit) cache.delete(key);
    const running = inflight.get(key);
    if (running) return running;
    const keep = (entry: { answer?: DnsAnswer; error?: unknown }): void => {
      cache.set(key, { until: now() + ttl, ...entry });
      while (cache.size > max) cache.delete(cache.keys().next().value!);
    };
    const p = inner(name, rrtype).then(
      (answer) => {
        keep({ answer });
        return answer;
      },
      (error: unknown) => {
        if (NEGATIVE.has((error as { code?: string })?.code ?? "")) keep({ error });
        throw error;
      },
    );
    inflight.set(key, p);
    const done = (): void => void inflight.delete(key);
    p.then(done, done);
    return p;
  };
}

/** A lookup function answering from a fixed zone (tests, and `portcullis` tooling that wants to
 * evaluate records before publishing them). Keys are lower-case names without the trailing dot;
 * TXT values are given as whole strings. Unknown names are NXDOMAIN. */
export function zoneLookup(zone: Record<string, Partial<Record<"TXT" | "A" | "AAAA" | "MX", string[]>>>): DnsLookup {
  return async (name, rrtype) => {
    const n = name.toLowerCase().replace(/\.$/, "");
    const node = zone[n];
    if (!node) throw Object.assign(new Error(`queryTxt ENOTFOUND ${n}`), { code: "ENOTFOUND" });
    const type = rrtype.toUpperCase() as "TXT" | "A" | "AAAA" | "MX";
    const values = node[type];
    if (!values || values.length === 0) throw Object.assign(new Error(`query ENODATA ${n}`), { code: "ENODATA" });
    if (type === "TXT") return values.map((v) => [v]);
    if (type === "MX") {
      return values.map((v) => {
        const [prio, host] = v.split(/\s+/);
        return { priority: Number(prio), exchange: host ?? "" };
      });
    }
    return [...values];
  };
}
