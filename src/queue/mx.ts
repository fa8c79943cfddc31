// Where a destination domain's mail goes: [outbound.routes], the smarthost, or the domain's MX
// hosts (RFC 5321 §5.1), and the addresses of a host.
//
// Invariants: MX hosts are tried in preference order, hosts of equal preference in random order
// (§5.1); no MX records means the domain itself is the host (implicit MX, §5.1); a null MX
// (RFC 7505) fails at once; a DNS outage is temporary; parsing is pure (parseHostPort, orderMx,
// parseSmarthost), lookups go through the injected resolver.

import { isIP } from "node:net";
import { classifyDnsError, orEmpty, type DnsResolver, type MxRecord } from "./dns.js";

export interface Hop {
  /** Host name (or IP literal) to connect to; also the TLS name for verification. */
  name: string;
  port: number;
}

export type Destination =
  | { kind: "route"; hops: Hop[] }
  | { kind: "smarthost"; hops: Hop[]; implicitTls: boolean; user: string | null; password: string | null }
  | { kind: "mx"; hops: Hop[]; /** Whether hops came from MX records (false: implicit MX). */ viaMx: boolean }
  | { kind: "fail"; permanent: boolean; code: number; enhanced: string; reason: string };

/** "host:port", "[v6]:port", "host" (port 25). Throws on anything else. */
export function parseHostPort(s: string, defaultPort = 25): Hop {
  const t = s.trim();
  let m = /^\[([0-9a-fA-F:.]+)\](?::(\d{1,5}))?$/.exec(t);
  if (!m) m = /^([A-Za-z0-9._-]+)(?::(\d{1,5}))?$/.exec(t);
  if (!m) throw new Error(`not host:port: ${JSON.stringify(s)}`);
  const port = m[2] === undefined ? defaultPort : Number(m[2]);
  if (port < 1 || port > 65535) throw new Error(`bad port in ${JSON.stringify(s)}`);
  return { name: m[1]!, port };
}

export interface Smarthost {
  hop: Hop;
  implicitTls: boolean;
  user: string | null;
  password: string | null;
}

/** `smtp://[user:pass@]host[:port]` (STARTTLS, default 587) or `smtps://...` (TLS, default 465). */
export function parseSmarthost(s: string): Smarthost {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw new Error("outbound.smarthost: not a URL (use smtp://host:587 or smtps://user:password@host:465)");
  }
  const implicitTls = u.protocol === "smtps:";
  if (!implicitTls && u.protocol !== "smtp:") throw new Error("outbound.smarthost: the scheme must be smtp:// or smtps://");
  const host = u.hostname.replace(/^\[|\]$/g, "");
  if (host === "") throw new Error("outbound.smarthost: no host");
  const port = u.port === "" ? (implicitTls ? 465 : 587) : Number(u.port);
  return {
    hop: { name: host, port },
    implicitTls,
    user: u.username === "" ? null : decodeURIComponent(u.username),
    password: u.password === "" ? null : decodeURIComponent(u.password),
  };
}

/** RFC 7505 §3: a single MX of preference 0 with the root "." as exchange (node gives ""). */
export function isNullMx(records: readonly MxRecord[]): boolean {
  return records.some((r) => r.exchange === "" || r.exchange === ".");
}

/** RFC 5321 §5.1: ascending preference, equal preferences shuffled, duplicates dropped. */
export function orderMx(records: readonly MxRecord[], random: () => number = Math.random): string[] {
  const byPref = new Map<number, string[]>();
  for (const r of records) {
    const host = r.exchange.toLowerCase().replace(/\.$/, "");
    if (host === "") continue;
    byPref.set(r.priority, [...(byPref.get(r.priority) ?? []), host]);
  }
  const out: string[] = [];
  for (const pref of [...byPref.keys()].sort((a, b) => a - b)) {
    const hosts = byPref.get(pref)!;
    for (let i = hosts.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [hosts[i], hosts[j]] = [hosts[j]!, hosts[i]!];
    }
    for (const h of hosts) if (!out.includes(h)) out.push(h);
  }
  return out;
}

export interface RouteConfig {
  routes: Readonly<Record<string, string>>;
  smarthost?: string;
  /** The port MX hosts are reached on: 25 (RFC 5321 §4.5.4.2); injectable for tests only. */
  mxPort: number;
}

/** Decides where mail for `domain` goes. DNS errors become a temporary "fail". */
export async function resolveDestination(domain: string, resolver: DnsResolver, c: RouteConfig, random?: () => number): Promise<Destination> {
  const d = domain.toLowerCase().replace(/\.$/, "");
  const route = c.routes[d];
  if (route !== undefined) return { kind: "route", hops: [parseHostPort(route)] };
  if (c.smarthost) {
    const s = parseSmarthost(c.smarthost);
    return { kind: "smarthost", hops: [s.hop], implicitTls: s.implicitTls, user: s.user, password: s.password };
  }
  if (isIP(d.replace(/^\[|\]$/g, ""))) return { kind: "mx", hops: [{ name: d.replace(/^\[|\]$/g, ""), port: c.mxPort }], viaMx: false };
  let mx: MxRecord[];
  try {
    mx = await orEmpty(resolver.resolveMx(d));
  } catch (e) {
    if (classifyDnsError(e) === "nxdomain") {
      return { kind: "fail", permanent: true, code: 550, enhanced: "5.1.2", reason: `domain ${d} does not exist (NXDOMAIN)` };
    }
    return { kind: "fail", permanent: false, code: 451, enhanced: "4.4.3", reason: `MX lookup for ${d} failed: ${(e as Error).message}` };
  }
  if (isNullMx(mx)) {
    // RFC 7505 §3.2: the domain accepts no mail; fail at once with 556 5.1.10.
    return { kind: "fail", permanent: true, code: 556, enhanced: "5.1.10", reason: `domain ${d} accepts no mail (null MX, RFC 7505)` };
  }
  if (mx.length === 0) return { kind: "mx", hops: [{ name: d, port: c.mxPort }], viaMx: false }; // RFC 5321 §5.1 implicit MX
  return { kind: "mx", hops: orderMx(mx, random).map((name) => ({ name, port: c.mxPort })), viaMx: true };
}

/** The IP addresses of a host: itself if an IP literal, else AAAA and A records (IPv4 first). */
export async function addressesOf(host: string, resolver: DnsResolver): Promise<string[]> {
  const h = host.replace(/^\[|\]$/g, "");
  if (isIP(h)) return [h];
  const settle = async (p: Promise<string[]>): Promise<{ ok: string[] } | { err: unknown }> => {
    try {
      return { ok: await orEmpty(p) };
    } catch (e) {
      return { err: e };
    }
  };
  const [a, aaaa] = await Promise.all([settle(resolver.resolve4(h)), settle(resolver.resolve6(h))]);
  const out = [...("ok" in a ? a.ok : []), ...("ok" in aaaa ? aaaa.ok : [])];
  if (out.length === 0) {
    const err = "err" in a ? a.err : "err" in aaaa ? aaaa.err : null;
    if (err && classifyDnsError(err) === "temporary") throw err;
  }
  return out;
}
