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

/** The lookup function for inbound checks, from the configuration. */
export function dnsLookupFromConfig(config: Config, o: ResolverOptions = {}): DnsLookup {
  return createDnsLookup(config.outbound.dns_servers, o);
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
