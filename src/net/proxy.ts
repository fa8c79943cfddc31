// PROXY protocol header parser (HAProxy PROXY protocol, versions 1 and 2), pure: given the first
// bytes received on a connection from a trusted proxy, says whether they hold a complete, valid
// header, how many octets it took, and which client address it names.
//
// Invariants:
// - Never reads beyond the header: `consumed` is exactly the header length, the rest belongs to
//   the protocol spoken after it.
// - "need-more" only while the bytes so far can still become a valid header, and never beyond
//   PROXY_V1_MAX / PROXY_V2_MAX octets: garbage is "invalid" as soon as it is recognisable.
// - `source` is null when the header says to use the real connection addresses (v1 UNKNOWN,
//   v2 LOCAL, v2 AF_UNSPEC); anything else than TCP over IPv4/IPv6 is refused.

import { isIPv4, isIPv6 } from "node:net";
import { PROXY_V1_MAX, PROXY_V2_MAX } from "./limits.js";
import { formatIp } from "../policy/cidr.js";

export interface ProxyEndpoint {
  address: string;
  port: number;
}

export type ProxyParse =
  | { kind: "need-more" }
  | { kind: "invalid"; reason: string }
  | { kind: "ok"; version: 1 | 2; consumed: number; source: ProxyEndpoint | null; destination: ProxyEndpoint | null };

/** The 12-octet v2 signature (spec §2.2). */
export const PROXY_V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from("PROXY ", "latin1");

export function parseProxyHeader(buf: Buffer): ProxyParse {
  if (buf.length === 0) return { kind: "need-more" };
  if (buf[0] === 0x50) return parseV1(buf);
  if (buf[0] === 0x0d) return parseV2(buf);
  return { kind: "invalid", reason: "no PROXY protocol header" };
}

function isPrefixOf(buf: Buffer, full: Buffer): boolean {
  const n = Math.min(buf.length, full.length);
  return buf.subarray(0, n).equals(full.subarray(0, n));
}

/** Spec §2.1: "PROXY" SP ("TCP4" | "TCP6" | "UNKNOWN") [SP src SP dst SP sport SP dport] CRLF, at
 * most 107 octets including the CRLF. */
function parseV1(buf: Buffer): ProxyParse {
  if (!isPrefixOf(buf, V1_PREFIX)) return { kind: "invalid", reason: "bad v1 signature" };
  const lf = buf.indexOf(0x0a);
  const limit = Math.min(buf.length, PROXY_V1_MAX);
  if (lf === -1 || lf >= PROXY_V1_MAX) {
    if (buf.length >= PROXY_V1_MAX) return { kind: "invalid", reason: "v1 header longer than 107 octets" };
    // Only printable US-ASCII (and a final CR) can appear in a v1 header.
    for (let i = 0; i < limit; i++) {
      const c = buf[i]!;
      if ((c < 0x20 || c > 0x7e) && !(c === 0x0d && i === limit - 1)) return { kind: "invalid", reason: "v1 header has a non-printable octet" };
    }
    return { kind: "need-more" };
  }
  if (lf === 0 || buf[lf - 1] !== 0x0d) return { kind: "invalid", reason: "v1 header does not end in CRLF" };
  const text = buf.subarray(0, lf - 1).toString("latin1");
  if (!/^[\x20-\x7e]*$/.test(text)) return { kind: "invalid", reason: "v1 header has a non-printable octet" };
  const parts = text.split(" ");
  const consumed = lf + 1;
  // §2.1: with UNKNOWN the rest of the line is ignored and the real addresses are used.
  if (parts[1] === "UNKNOWN") return { kind: "ok", version: 1, consumed, source: null, destination: null };
  if (parts.length !== 6) return { kind: "invalid", reason: "v1 header needs protocol, two addresses and two ports" };
  const [, proto, src, dst, sport, dport] = parts as [string, string, string, string, string, string];
  const valid = proto === "TCP4" ? isIPv4 : proto === "TCP6" ? isIPv6 : null;
  if (!valid) return { kind: "invalid", reason: `v1 protocol ${JSON.stringify(proto)} is not TCP4, TCP6 or UNKNOWN` };
  if (!valid(src) || !valid(dst)) return { kind: "invalid", reason: `v1 addresses are not ${proto} addresses` };
  const sp = parsePort(sport);
  const dp = parsePort(dport);
  if (sp === null || dp === null) return { kind: "invalid", reason: "v1 port is not a number from 0 to 65535" };
  return {
    kind: "ok",
    version: 1,
    consumed,
    source: { address: src.toLowerCase(), port: sp },
    destination: { address: dst.toLowerCase(), port: dp },
  };
}

function parsePort(s: string): number | null {
  // §2.1: decimal, no leading zeroes.
  if (!/^(0|[1-9]\d{0,4})$/.test(s)) return null;
  const n = Number(s);
  return n <= 65535 ? n : null;
}

/** Spec §2.2: 12-octet signature, version/command, family/transport, 16-bit length, addresses,
 * then TLVs (skipped). */
function parseV2(buf: Buffer): ProxyParse {
  if (!isPrefixOf(buf, PROXY_V2_SIGNATURE)) return { kind: "invalid", reason: "bad v2 signature" };
  if (buf.length < 16) {
    if (buf.length > 12 && buf[12]! >> 4 !== 2) return { kind: "invalid", reason: "v2 header with a version other than 2" };
    return { kind: "need-more" };
  }
  const verCmd = buf[12]!;
  const famProto = buf[13]!;
  const len = buf.readUInt16BE(14);
  if (verCmd >> 4 !== 2) return { kind: "invalid", reason: "v2 header with a version other than 2" };
  const cmd = verCmd & 0x0f;
  if (cmd !== 0 && cmd !== 1) return { kind: "invalid", reason: `v2 command ${cmd} is neither LOCAL nor PROXY` };
  if (16 + len > PROXY_V2_MAX) return { kind: "invalid", reason: `v2 header of ${16 + len} octets is too long` };
  if (buf.length < 16 + len) return { kind: "need-more" };
  const consumed = 16 + len;
  // LOCAL: a health check from the proxy itself; the real addresses count (§2.2).
  if (cmd === 0) return { kind: "ok", version: 2, consumed, source: null, destination: null };
  const family = famProto >> 4;
  const transport = famProto & 0x0f;
  if (family === 0) return { kind: "ok", version: 2, consumed, source: null, destination: null }; // AF_UNSPEC
  if (transport !== 1) return { kind: "invalid", reason: "v2 transport is not STREAM" };
  const body = buf.subarray(16, consumed);
  if (family === 1) {
    if (len < 12) return { kind: "invalid", reason: "v2 AF_INET address block shorter than 12 octets" };
    return {
      kind: "ok",
      version: 2,
      consumed,
      source: { address: ipv4(body.subarray(0, 4)), port: body.readUInt16BE(8) },
      destination: { address: ipv4(body.subarray(4, 8)), port: body.readUInt16BE(10) },
    };
  }
  if (family === 2) {
    if (len < 36) return { kind: "invalid", reason: "v2 AF_INET6 address block shorter than 36 octets" };
    return {
      kind: "ok",
      version: 2,
      consumed,
      source: { address: ipv6(body.subarray(0, 16)), port: body.readUInt16BE(32) },
      destination: { address: ipv6(body.subarray(16, 32)), port: body.readUInt16BE(34) },
    };
  }
  return { kind: "invalid", reason: `v2 address family ${family} is not AF_INET or AF_INET6` };
}

function ipv4(b: Buffer): string {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

/** RFC 5952 §4 text form (via the policy's one formatter); an IPv4-mapped address
 * (::ffff:a.b.c.d) is given as plain IPv4, as bans and access rules expect. */
export function ipv6(b: Buffer): string {
  const value = (b.readBigUInt64BE(0) << 64n) | b.readBigUInt64BE(8);
  if (value >> 32n === 0xffffn) return formatIp({ family: 4, value: value & 0xffffffffn });
  return formatIp({ family: 6, value });
}

/** Builds a v2 header (for tests and tools). */
export function buildProxyV2(o: { command: "LOCAL" | "PROXY"; source?: ProxyEndpoint; destination?: ProxyEndpoint; tlvs?: Buffer }): Buffer {
  const head = Buffer.alloc(16);
  PROXY_V2_SIGNATURE.copy(head, 0);
  head[12] = 0x20 | (o.command === "PROXY" ? 1 : 0);
  let addr = Buffer.alloc(0);
  if (o.command === "PROXY" && o.source && o.destination) {
    const v6 = o.source.address.includes(":");
    head[13] = v6 ? 0x21 : 0x11;
    addr = Buffer.alloc(v6 ? 36 : 12);
    const put = (a: string, off: number): void => {
      if (v6) ipv6Bytes(a).copy(addr, off);
      else Buffer.from(a.split(".").map(Number)).copy(addr, off);
    };
    put(o.source.address, 0);
    put(o.destination.address, v6 ? 16 : 4);
    addr.writeUInt16BE(o.source.port, v6 ? 32 : 8);
    addr.writeUInt16BE(o.destination.port, v6 ? 34 : 10);
  }
  const tlvs = o.tlvs ?? Buffer.alloc(0);
  head.writeUInt16BE(addr.length + tlvs.length, 14);
  return Buffer.concat([head, addr, tlvs]);
}

function ipv6Bytes(a: string): Buffer {
  const [l, r] = a.includes("::") ? (a.split("::") as [string, string]) : [a, null];
  const left = l ? l.split(":") : [];
  const right = r ? r.split(":") : [];
  const groups = r === null ? left : [...left, ...Array<string>(8 - left.length - right.length).fill("0"), ...right];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}
