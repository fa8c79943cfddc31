import { test } from "node:test";
import assert from "node:assert/strict";
import { parseProxyHeader, buildProxyV2, ipv6, PROXY_V2_SIGNATURE, type ProxyParse } from "./proxy.js";

const L = (s: string): Buffer => Buffer.from(s, "latin1");

type Expect =
  | { kind: "need-more" }
  | { kind: "invalid" }
  | { kind: "ok"; consumed: number; source: { address: string; port: number } | null };

function check(name: string, input: Buffer, expect: Expect): void {
  const r: ProxyParse = parseProxyHeader(input);
  assert.equal(r.kind, expect.kind, `${name}: ${JSON.stringify(r)}`);
  if (r.kind === "ok" && expect.kind === "ok") {
    assert.equal(r.consumed, expect.consumed, name);
    assert.deepEqual(r.source, expect.source, name);
  }
}

const v1Cases: Array<[string, string, Expect]> = [
  ["TCP4", "PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\r\nEHLO x\r\n", { kind: "ok", consumed: 44, source: { address: "192.0.2.1", port: 56324 } }],
  ["TCP6", "PROXY TCP6 2001:DB8::1 2001:db8::2 1 993\r\n", { kind: "ok", consumed: 42, source: { address: "2001:db8::1", port: 1 } }],
  ["UNKNOWN with addresses", "PROXY UNKNOWN ffff:f...f:ffff 1.2.3.4 65535 65535\r\n", { kind: "ok", consumed: 51, source: null }],
  ["UNKNOWN bare", "PROXY UNKNOWN\r\n", { kind: "ok", consumed: 15, source: null }],
  ["truncated after PROXY", "PROXY TCP4 192.0.2.1 19", { kind: "need-more" }],
  ["truncated prefix", "PRO", { kind: "need-more" }],
  ["truncated before LF", "PROXY TCP4 192.0.2.1 198.51.100.2 1 2\r", { kind: "need-more" }],
  ["not PROXY", "EHLO client.example\r\n", { kind: "invalid" }],
  ["lower case", "proxy TCP4 192.0.2.1 198.51.100.2 1 2\r\n", { kind: "invalid" }],
  ["bare LF", "PROXY TCP4 192.0.2.1 198.51.100.2 1 2\n", { kind: "invalid" }],
  ["TCP4 with IPv6 address", "PROXY TCP4 2001:db8::1 198.51.100.2 1 2\r\n", { kind: "invalid" }],
  ["TCP6 with IPv4 address", "PROXY TCP6 192.0.2.1 2001:db8::2 1 2\r\n", { kind: "invalid" }],
  ["bad IPv4", "PROXY TCP4 192.0.2.300 198.51.100.2 1 2\r\n", { kind: "invalid" }],
  ["port too big", "PROXY TCP4 192.0.2.1 198.51.100.2 65536 2\r\n", { kind: "invalid" }],
  ["port leading zero", "PROXY TCP4 192.0.2.1 198.51.100.2 025 2\r\n", { kind: "invalid" }],
  ["port negative", "PROXY TCP4 192.0.2.1 198.51.100.2 -1 2\r\n", { kind: "invalid" }],
  ["missing port", "PROXY TCP4 192.0.2.1 198.51.100.2 1\r\n", { kind: "invalid" }],
  ["double space", "PROXY TCP4  192.0.2.1 198.51.100.2 1 2\r\n", { kind: "invalid" }],
  ["UDP4", "PROXY UDP4 192.0.2.1 198.51.100.2 1 2\r\n", { kind: "invalid" }],
  ["NUL inside", "PROXY TCP4 192.0.2.1\0 198.51.100.2 1 2\r\n", { kind: "invalid" }],
  ["NUL while incomplete", "PROXY TCP4 1\0", { kind: "invalid" }],
  ["no CRLF within 107 octets", "PROXY UNKNOWN " + "x".repeat(120), { kind: "invalid" }],
  ["107 octets exactly is allowed", "PROXY UNKNOWN " + "x".repeat(107 - 16) + "\r\n", { kind: "ok", consumed: 107, source: null }],
  ["108 octets is not", "PROXY UNKNOWN " + "x".repeat(108 - 16) + "\r\n", { kind: "invalid" }],
];

for (const [name, input, expect] of v1Cases) {
  test(`PROXY v1: ${name}`, () => check(name, L(input), expect));
}

test("PROXY v1: every proper prefix of a valid header asks for more", () => {
  const h = L("PROXY TCP6 2001:db8::1 2001:db8::2 56324 993\r\n");
  for (let n = 1; n < h.length; n++) assert.equal(parseProxyHeader(h.subarray(0, n)).kind, "need-more", `prefix ${n}`);
  assert.equal(parseProxyHeader(h).kind, "ok");
});

const v4 = buildProxyV2({ command: "PROXY", source: { address: "192.0.2.1", port: 56324 }, destination: { address: "198.51.100.2", port: 25 } });
const v6 = buildProxyV2({ command: "PROXY", source: { address: "2001:db8::7", port: 4000 }, destination: { address: "2001:db8::1", port: 993 } });
const tlv = Buffer.from([0x04, 0x00, 0x03, 0x61, 0x62, 0x63]); // PP2_TYPE_NOOP, 3 octets
const v4tlv = buildProxyV2({ command: "PROXY", source: { address: "203.0.113.9", port: 1 }, destination: { address: "198.51.100.2", port: 465 }, tlvs: tlv });
const local = buildProxyV2({ command: "LOCAL" });

function withByte(b: Buffer, i: number, v: number): Buffer {
  const c = Buffer.from(b);
  c[i] = v;
  return c;
}

const v2Cases: Array<[string, Buffer, Expect]> = [
  ["AF_INET STREAM", Buffer.concat([v4, L("EHLO x\r\n")]), { kind: "ok", consumed: 28, source: { address: "192.0.2.1", port: 56324 } }],
  ["AF_INET6 STREAM", v6, { kind: "ok", consumed: 52, source: { address: "2001:db8::7", port: 4000 } }],
  ["TLVs skipped", Buffer.concat([v4tlv, L("A")]), { kind: "ok", consumed: 34, source: { address: "203.0.113.9", port: 1 } }],
  ["LOCAL", local, { kind: "ok", consumed: 16, source: null }],
  ["AF_UNSPEC under PROXY", withByte(withByte(local, 12, 0x21), 13, 0x00), { kind: "ok", consumed: 16, source: null }],
  ["truncated signature", PROXY_V2_SIGNATURE.subarray(0, 7), { kind: "need-more" }],
  ["truncated fixed header", v4.subarray(0, 14), { kind: "need-more" }],
  ["truncated addresses", v4.subarray(0, 20), { kind: "need-more" }],
  ["garbage after CRLF", L("\r\n\r\nGET / HTTP/1.0\r\n"), { kind: "invalid" }],
  ["version 1 in the binary header", withByte(v4, 12, 0x11), { kind: "invalid" }],
  ["unknown command", withByte(v4, 12, 0x22), { kind: "invalid" }],
  ["DGRAM transport", withByte(v4, 13, 0x12), { kind: "invalid" }],
  ["AF_UNIX", withByte(v4, 13, 0x31), { kind: "invalid" }],
  ["AF_INET with a short address block", (() => { const b = Buffer.from(v4.subarray(0, 24)); b.writeUInt16BE(8, 14); return b; })(), { kind: "invalid" }],
  ["AF_INET6 with an IPv4-sized block", withByte(v4, 13, 0x21), { kind: "invalid" }],
  ["length beyond the cap", (() => { const b = Buffer.from(v4.subarray(0, 16)); b.writeUInt16BE(60000, 14); return b; })(), { kind: "invalid" }],
];

for (const [name, input, expect] of v2Cases) {
  test(`PROXY v2: ${name}`, () => check(name, input, expect));
}

test("PROXY v2: every proper prefix of a valid header asks for more", () => {
  for (let n = 1; n < v4tlv.length; n++) assert.equal(parseProxyHeader(v4tlv.subarray(0, n)).kind, "need-more", `prefix ${n}`);
});

test("nothing received yet asks for more; random binary garbage is invalid", () => {
  assert.equal(parseProxyHeader(Buffer.alloc(0)).kind, "need-more");
  assert.equal(parseProxyHeader(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00])).kind, "invalid"); // a TLS ClientHello
});

test("IPv6 text form follows RFC 5952", () => {
  const hex = (s: string): Buffer => Buffer.from(s.replace(/\s/g, ""), "hex");
  assert.equal(ipv6(hex("20010db8 00000000 00000000 00000001")), "2001:db8::1");
  assert.equal(ipv6(hex("20010db8 00000001 00000000 00000001")), "2001:db8:0:1::1");
  assert.equal(ipv6(hex("00000000 00000000 00000000 00000001")), "::1");
  assert.equal(ipv6(hex("00000000 00000000 00000000 00000000")), "::");
  assert.equal(ipv6(hex("20010db8 00010001 00010001 00010001")), "2001:db8:1:1:1:1:1:1");
  assert.equal(ipv6(hex("00000000 00000000 0000ffff c0000201")), "192.0.2.1");
  assert.equal(ipv6(hex("20010000 00000db8 00000000 00000001")), "2001:0:0:db8::1", "the longest run");
  assert.equal(ipv6(hex("20010db8 00000000 00010000 00000001")), "2001:db8::1:0:0:1", "the first of equal runs");
});
