import { test } from "node:test";
import assert from "node:assert/strict";
import {
  AddressError,
  NetworkList,
  cidrContains,
  isLoopback,
  networkKey,
  normalizeIp,
  normalizeSubject,
  parseCidr,
  parseIp,
  tryParseIp,
} from "./cidr.js";

test("valid addresses parse to their canonical (RFC 5952) text", () => {
  const cases: Array<[string, string]> = [
    ["0.0.0.0", "0.0.0.0"],
    ["192.0.2.1", "192.0.2.1"],
    ["255.255.255.255", "255.255.255.255"],
    ["::", "::"],
    ["::1", "::1"],
    ["1::", "1::"],
    ["2001:DB8::1", "2001:db8::1"],
    ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"], // first of two equal runs
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"], // a single zero group is not compressed
    ["2001:db8::0:1", "2001:db8::1"],
    ["1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"], // "::" for one group is accepted
    ["fe80::1%eth0", "fe80::1"],
    ["fe80::1%25", "fe80::1"],
    ["::ffff:192.0.2.1", "192.0.2.1"], // IPv4-mapped -> IPv4
    ["::FFFF:192.0.2.1", "192.0.2.1"],
    ["::ffff:c000:0201", "192.0.2.1"],
    ["0:0:0:0:0:ffff:127.0.0.1", "127.0.0.1"],
    ["::192.0.2.1", "::c000:201"], // deprecated IPv4-compatible form stays IPv6
    ["64:ff9b::192.0.2.1", "64:ff9b::c000:201"],
  ];
  for (const [input, want] of cases) assert.equal(normalizeIp(input), want, input);
});

test("mapped IPv4 has the IPv4 family and value", () => {
  assert.deepEqual(parseIp("::ffff:10.1.2.3"), parseIp("10.1.2.3"));
  assert.equal(parseIp("::ffff:10.1.2.3").family, 4);
});

test("hostile and invalid addresses throw a clear AddressError", () => {
  const bad = [
    "",
    " ",
    " 192.0.2.1",
    "192.0.2.1 ",
    "192.0.2.1\n",
    "192.0.2.1\0",
    "1.2.3",
    "127.1",
    "1.2.3.4.5",
    "256.1.1.1",
    "1.2.3.-4",
    "1.2.3.+4",
    "010.0.0.1", // leading zero: octal or decimal? refused
    "0x7f.0.0.1",
    "1..2.3",
    "1.2.3.4.",
    ".1.2.3.4",
    "١٢٧.0.0.1", // Arabic-Indic digits
    "１.2.3.4", // full-width digit
    "1e2.0.0.1",
    "localhost",
    ":",
    ":::",
    "::1::",
    "1::2::3",
    ":1::",
    "1:2:3:4:5:6:7:8:9",
    "1:2:3:4:5:6:7",
    "::1:2:3:4:5:6:7:8",
    "12345::",
    "g::1",
    "::ffff:1.2.3.4.5",
    "::ffff:256.1.1.1",
    "1.2.3.4::",
    "::1.2.3.4:1",
    "fe80::1%",
    "fe80::1%eth0%eth1",
    "fe80::1%eth 0",
    "192.0.2.1%eth0",
    "192.0.2.0/24",
    "a".repeat(10_000),
    "1".repeat(200) + ".0.0.0",
    "::" + ":1".repeat(100),
  ];
  for (const input of bad) {
    assert.throws(() => parseIp(input), AddressError, JSON.stringify(input));
    assert.equal(tryParseIp(input), null);
  }
  assert.throws(() => parseIp("256.1.1.1"), /invalid IP address or network "256\.1\.1\.1": IPv4 part 256 is greater than 255/);
  assert.throws(() => parseIp("1::2::3"), /"::" may appear only once/);
  const long = "a".repeat(10_000);
  try {
    parseIp(long);
    assert.fail("no error");
  } catch (err) {
    assert.ok(err instanceof AddressError);
    assert.ok(err.message.length < 200, "the error message does not echo unbounded input");
  }
  assert.throws(() => parseIp(undefined as unknown as string), AddressError);
});

test("CIDR networks parse, clear host bits, and normalise", () => {
  const cases: Array<[string, string]> = [
    ["192.0.2.0/24", "192.0.2.0/24"],
    ["192.0.2.77/24", "192.0.2.0/24"],
    ["192.0.2.7", "192.0.2.7"],
    ["192.0.2.7/32", "192.0.2.7"],
    ["0.0.0.0/0", "0.0.0.0/0"],
    ["10.0.0.0/8", "10.0.0.0/8"],
    ["2001:DB8::/32", "2001:db8::/32"],
    ["2001:db8:1:2:3:4:5:6/64", "2001:db8:1:2::/64"],
    ["::/0", "::/0"],
    ["::1/128", "::1"],
    ["::ffff:192.0.2.0/120", "192.0.2.0/24"],
    ["::ffff:0:0/96", "0.0.0.0/0"],
    ["::ffff:192.0.2.1", "192.0.2.1"],
  ];
  for (const [input, want] of cases) assert.equal(normalizeSubject(input), want, input);
});

test("invalid CIDR networks throw", () => {
  const bad = [
    "192.0.2.0/",
    "/24",
    "192.0.2.0/33",
    "192.0.2.0/-1",
    "192.0.2.0/+8",
    "192.0.2.0/024",
    "192.0.2.0/ 24",
    "192.0.2.0/24/8",
    "192.0.2.0/2x",
    "2001:db8::/129",
    "fe80::%eth0/64", // zone ids only on addresses
    "::ffff:1.2.3.4/129",
    "",
  ];
  for (const input of bad) assert.throws(() => parseCidr(input), AddressError, JSON.stringify(input));
});

test("matching: families never cross, mapped clients match IPv4 rules", () => {
  const v4net = parseCidr("192.0.2.0/24");
  assert.equal(cidrContains(v4net, parseIp("192.0.2.200")), true);
  assert.equal(cidrContains(v4net, parseIp("::ffff:192.0.2.200")), true);
  assert.equal(cidrContains(v4net, parseIp("192.0.3.1")), false);
  assert.equal(cidrContains(parseCidr("::/0"), parseIp("192.0.2.1")), false);
  assert.equal(cidrContains(parseCidr("::/0"), parseIp("2001:db8::1")), true);
  assert.equal(cidrContains(parseCidr("0.0.0.0/0"), parseIp("2001:db8::1")), false);
  assert.equal(cidrContains(parseCidr("0.0.0.0/0"), parseIp("::ffff:1.2.3.4")), true);
  assert.equal(cidrContains(parseCidr("2001:db8::/32"), parseIp("2001:db8:ffff::1%eth0")), true);
  assert.equal(cidrContains(parseCidr("2001:db8::/32"), parseIp("2001:db9::1")), false);
  // A mapped network wider than /96 stays IPv6 and does not capture IPv4 clients.
  const wide = parseCidr("::ffff:0:0/80");
  assert.equal(wide.family, 6);
  assert.equal(cidrContains(wide, parseIp("192.0.2.1")), false);
});

test("networkKey gives the /24 or /64 (or any prefix) of an address", () => {
  const cases: Array<[string, number, number, string]> = [
    ["192.0.2.77", 24, 64, "192.0.2.0/24"],
    ["::ffff:192.0.2.77", 24, 64, "192.0.2.0/24"],
    ["192.0.2.77", 32, 64, "192.0.2.77/32"],
    ["2001:db8:1:2:3:4:5:6", 24, 64, "2001:db8:1:2::/64"],
    ["2001:db8:1:2:3:4:5:6", 24, 48, "2001:db8:1::/48"],
    ["2001:db8:1:2:ffff::", 24, 64, "2001:db8:1:2::/64"],
    ["fe80::1%eth0", 24, 64, "fe80::/64"],
    ["10.20.30.40", 0, 0, "0.0.0.0/0"],
  ];
  for (const [ip, p4, p6, want] of cases) assert.equal(networkKey(ip, p4, p6), want, ip);
  assert.equal(networkKey("2001:db8:1:2::1", 24, 64), networkKey("2001:db8:1:2:aaaa:bbbb:cccc:dddd", 24, 64));
  assert.throws(() => networkKey("nope", 24, 64), AddressError);
  assert.throws(() => networkKey("192.0.2.1", 33, 64), RangeError);
  assert.throws(() => networkKey("192.0.2.1", 24, 1.5), RangeError);
});

test("isLoopback", () => {
  for (const ip of ["127.0.0.1", "127.255.255.254", "::1", "::ffff:127.0.0.1", "0:0:0:0:0:0:0:1"]) assert.equal(isLoopback(ip), true, ip);
  for (const ip of ["128.0.0.1", "126.255.255.255", "::", "::2", "::127.0.0.1", "0.0.0.0", "192.0.2.1", "fe80::1"]) assert.equal(isLoopback(ip), false, ip);
  assert.throws(() => isLoopback("localhost"), AddressError);
});

test("NetworkList finds the first match and names bad entries", () => {
  const list = NetworkList.parse(["10.0.0.0/8", "10.1.0.0/16", "2001:db8::/32"], "access.allow");
  assert.equal(list.match(parseIp("10.1.2.3")), "10.0.0.0/8");
  assert.equal(list.match(parseIp("2001:db8::5")), "2001:db8::/32");
  assert.equal(list.match(parseIp("192.0.2.1")), null);
  assert.equal(list.covers(parseCidr("10.2.0.0/16")), true);
  assert.equal(list.covers(parseCidr("10.0.0.0/7")), false);
  assert.equal(list.covers(parseCidr("2001:db8:5::/48")), true);
  assert.throws(() => NetworkList.parse(["10.0.0.0/8", "10.0.0.300"], "access.deny"), /access\.deny\[1\]/);
});

test("round trip and agreement with Node and WHATWG URL on random addresses", async () => {
  const { isIP } = await import("node:net");
  let seed = 12345;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let i = 0; i < 3000; i++) {
    // IPv6 with zero groups likely, so compression paths are exercised.
    const groups = Array.from({ length: 8 }, () => (rand() < 0.4 ? 0 : Math.floor(rand() * 0x10000)));
    if (groups[5] === 0xffff && groups.slice(0, 5).every((g) => g === 0)) groups[5] = 1; // skip mapped
    const text = groups.map((g) => g.toString(16)).join(":");
    const canonical = normalizeIp(text);
    assert.equal(canonical, new URL(`http://[${text}]/`).hostname.slice(1, -1), text);
    assert.equal(normalizeIp(canonical), canonical);
    assert.equal(isIP(canonical), 6);
    const v4 = Array.from({ length: 4 }, () => Math.floor(rand() * 256)).join(".");
    assert.equal(normalizeIp(v4), v4);
    assert.equal(normalizeIp(`::ffff:${v4}`), v4);
  }
});

test("random junk never throws anything but AddressError, and what parses is a real address", async () => {
  const { isIP } = await import("node:net");
  const alphabet = "0123456789abcdefABCDEF:.%/ \u0000\u00a0x-+";
  let seed = 777;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let i = 0; i < 20_000; i++) {
    const len = Math.floor(rand() * 40);
    let s = "";
    for (let j = 0; j < len; j++) s += alphabet[Math.floor(rand() * alphabet.length)];
    try {
      const ip = parseIp(s);
      assert.notEqual(isIP(s.split("%")[0]!), 0, `accepted ${JSON.stringify(s)}, Node does not`);
      assert.ok(ip.family === 4 || ip.family === 6);
    } catch (err) {
      assert.ok(err instanceof AddressError, `${JSON.stringify(s)}: ${String(err)}`);
    }
    try {
      parseCidr(s);
    } catch (err) {
      assert.ok(err instanceof AddressError, `${JSON.stringify(s)}: ${String(err)}`);
    }
  }
});
