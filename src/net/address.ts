// Small address helpers for the gate: the one text form of a peer address (IPv4-mapped IPv6
// becomes plain IPv4, so rules written for 192.0.2.0/24 match on dual-stack sockets), loopback
// tests, and the proxy.trusted network list.

import { BlockList, isIPv4, isIPv6 } from "node:net";

/** "::ffff:192.0.2.1" -> "192.0.2.1"; strips a zone id; lower case. */
export function normalizeAddress(a: string | undefined): string {
  if (!a) return "";
  let s = a.toLowerCase();
  const pct = s.indexOf("%");
  if (pct !== -1) s = s.slice(0, pct);
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (m && isIPv4(m[1]!)) return m[1]!;
  return s;
}

export function isLoopbackAddress(a: string): boolean {
  const s = normalizeAddress(a);
  if (isIPv4(s)) return s.startsWith("127.");
  return s === "::1";
}

/** A set of networks ("192.0.2.0/24", "2001:db8::/32", "192.0.2.7"). */
export class NetworkSet {
  private readonly list = new BlockList();
  private readonly empty: boolean;

  constructor(networks: readonly string[]) {
    this.empty = networks.length === 0;
    for (const n of networks) {
      const [addr, prefix] = n.split("/") as [string, string | undefined];
      const a = normalizeAddress(addr);
      const type = isIPv4(a) ? "ipv4" : isIPv6(a) ? "ipv6" : null;
      if (!type) throw new Error(`not an IP address or network: ${n}`);
      if (prefix === undefined) this.list.addAddress(a, type);
      else this.list.addSubnet(a, Number(prefix), type);
    }
  }

  has(ip: string): boolean {
    if (this.empty) return false;
    const a = normalizeAddress(ip);
    if (isIPv4(a)) return this.list.check(a, "ipv4");
    if (isIPv6(a)) return this.list.check(a, "ipv6");
    return false;
  }
}
