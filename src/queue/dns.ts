// DNS for outbound delivery: the resolver interface (injectable; node:dns's Resolver fits it), the
// resolver built from `[outbound] dns_servers`, and how lookup errors are classified.
//
// Invariant: a name that does not exist (NXDOMAIN) and a name without records of the asked type
// are "not found" answers; every other failure (SERVFAIL, timeout, refused) is temporary, so mail
// is deferred, never bounced, because of a DNS outage.

import { Resolver } from "node:dns/promises";

export interface MxRecord {
  exchange: string;
  priority: number;
}

/** What outbound delivery and `portcullis dns --check` need from DNS. */
export interface DnsResolver {
  resolveMx(name: string): Promise<MxRecord[]>;
  resolve4(name: string): Promise<string[]>;
  resolve6(name: string): Promise<string[]>;
  resolveTxt(name: string): Promise<string[][]>;
  resolveCname(name: string): Promise<string[]>;
  resolveSrv(name: string): Promise<Array<{ name: string; port: number; priority: number; weight: number }>>;
}

/** A resolver using `servers` ("1.2.3.4", "127.0.0.1:5353", "[::1]:53"), or the system's. */
export function createResolver(servers: readonly string[], o: { timeoutMs?: number; tries?: number } = {}): DnsResolver {
  const r = new Resolver({ timeout: o.timeoutMs ?? 5_000, tries: o.tries ?? 2 });
  if (servers.length > 0) r.setServers([...servers]);
  return r;
}

export type LookupOutcome = "nxdomain" | "nodata" | "temporary";

/** Classifies a node:dns error code. */
export function classifyDnsError(e: unknown): LookupOutcome {
  const code = (e as { code?: string } | null)?.code;
  if (code === "ENOTFOUND") return "nxdomain";
  if (code === "ENODATA") return "nodata";
  return "temporary";
}

/** Records of a lookup, or [] when the name has none; throws on NXDOMAIN or a temporary error. */
export async function orEmpty<T>(p: Promise<T[]>): Promise<T[]> {
  try {
    return await p;
  } catch (e) {
    if (classifyDnsError(e) === "nodata") return [];
    throw e;
  }
}
