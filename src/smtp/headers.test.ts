// Header-section parsing (RFC 5322 §2.2, §3.4, §3.6.2) and trace headers (RFC 5321 §4.4,
// RFC 3848).

import { test } from "node:test";
import assert from "node:assert/strict";
import { countFields, normalizeHeaderAddress, parseAddressList, parseHeaderFields } from "./headers.js";
import { receivedHeader, rfc5322Date, withProtocol } from "./trace.js";

test("header fields: unfolding, counting, malformed lines", () => {
  const block = Buffer.from(
    "Received: from a\r\n\tby b; Sun, 1 Jan 2026 00:00:00 +0000\r\nreceived: from c by d\r\nFrom: Alice\r\n <alice@example.test>\r\nSubject: hi\r\nnot a header\r\n\r\n",
  );
  const { fields, malformed } = parseHeaderFields(block);
  assert.equal(countFields(fields, "Received"), 2);
  assert.equal(fields.find((f) => f.name === "From")?.value, "Alice <alice@example.test>");
  assert.equal(malformed, 1);
});

const ADDRESS_LISTS: Array<[string, string[] | null]> = [
  ["alice@example.test", ["alice@example.test"]],
  ["Alice <alice@example.test>", ["alice@example.test"]],
  ['"Smith, Alice" <alice@example.test>', ["alice@example.test"]],
  ['"bob@bank.example" <alice@example.test>', ["alice@example.test"]],
  ["=?utf-8?q?J=C3=B6rg?= <jorg@example.test>", ["jorg@example.test"]],
  ["alice@example.test (Alice (the) Admin)", ["alice@example.test"]],
  ["(c) alice @ example.test", ["alice@example.test"]],
  ["<alice@example.test>", ["alice@example.test"]],
  ["<@route.example:alice@example.test>", ["alice@example.test"]],
  ["Alice <alice@example.test>, bob@example.test", ["alice@example.test", "bob@example.test"]],
  ["Friends: alice@example.test, Bob <bob@example.test>;", ["alice@example.test", "bob@example.test"]],
  ["undisclosed-recipients:;", []],
  ['"quoted local"@example.test', ['"quoted local"@example.test']],
  ["Jörg <jörg@bücher.example>", ["jörg@bücher.example"]],
  // Not a well-formed list: null, so that the caller refuses instead of guessing.
  ["Alice", null],
  ["Alice alice@example.test", null],
  ["<alice@example.test> bob@evil.example", null],
  ["<alice@example.test", null],
  ["alice@example.test>", null],
  ['"unterminated <alice@example.test>', null],
  ["(unterminated alice@example.test", null],
  ["<alice@example.test> <bob@evil.example>", null],
  ["a@b@c", null],
  ["Group: a@example.test", null],
  ["<not an address>", null],
];

test("From: address lists (RFC 5322 §3.4)", () => {
  for (const [value, want] of ADDRESS_LISTS) assert.deepEqual(parseAddressList(value), want, value);
});

test("normalised header addresses compare like account addresses", () => {
  assert.equal(normalizeHeaderAddress("Alice@Example.TEST"), "alice@example.test");
  assert.equal(normalizeHeaderAddress('"Alice"@example.test'), "alice@example.test");
  assert.equal(normalizeHeaderAddress('"a\\"b"@example.test'), 'a"b@example.test');
});

test("Received: follows RFC 5321 §4.4 and RFC 3848", () => {
  assert.equal(withProtocol({ esmtp: true, smtputf8: false, tls: false, authenticated: false }), "ESMTP");
  assert.equal(withProtocol({ esmtp: true, smtputf8: false, tls: true, authenticated: true }), "ESMTPSA");
  assert.equal(withProtocol({ esmtp: true, smtputf8: true, tls: true, authenticated: false }), "UTF8SMTPS");
  assert.equal(withProtocol({ esmtp: false, smtputf8: false, tls: false, authenticated: false }), "SMTP");
  const date = new Date(Date.UTC(2026, 10, 22, 4, 5, 6));
  assert.equal(rfc5322Date(date), "Sun, 22 Nov 2026 04:05:06 +0000");
  const h = receivedHeader({
    helo: "client.example",
    esmtp: true,
    smtputf8: false,
    remoteAddress: "::ffff:192.0.2.7",
    hostname: "mx.example.test",
    id: "ABC123",
    tls: { version: "TLSv1.3", cipher: "TLS_AES_256_GCM_SHA384" },
    authUser: null,
    authenticated: false,
    recipient: "alice@example.test",
    date,
  });
  assert.equal(
    h,
    "Received: from client.example ([192.0.2.7])\r\n\tby mx.example.test with ESMTPS id ABC123\r\n\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)\r\n\tfor <alice@example.test>;\r\n\tSun, 22 Nov 2026 04:05:06 +0000\r\n",
  );
  const v6 = receivedHeader({ helo: "h", esmtp: true, smtputf8: false, remoteAddress: "::1", hostname: "x", id: "1", tls: null, authUser: "bob@example.test", authenticated: true, recipient: null, date });
  assert.match(v6, /^Received: from h \(\[IPv6:::1\]\)\r\n\tby x with ESMTPA id 1\r\n\t\(authenticated user bob@example\.test\);\r\n\tSun/);
  // Parses back as one header field.
  const { fields, malformed } = parseHeaderFields(Buffer.from(h));
  assert.equal(fields.length, 1);
  assert.equal(malformed, 0);
});

test("From: parser on hostile input: never throws, never returns a non-address", () => {
  let seed = 0x1234567;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const alphabet = ["<", ">", "@", '"', "\\", ":", ";", ",", ".", " ", "(", ")", "a", "b", "é", "\t", "="];
  const inputs = ["(".repeat(10000), '"'.repeat(10001), "<".repeat(5000), "a:".repeat(3000), "((a)".repeat(3000)];
  for (let i = 0; i < 5000; i++) {
    let s = "";
    for (let j = rand(40); j > 0; j--) s += alphabet[rand(alphabet.length)];
    inputs.push(s);
  }
  const started = Date.now();
  for (const s of inputs) {
    const r = parseAddressList(s);
    if (r) for (const a of r) assert.match(a, /@/, `${JSON.stringify(s)} -> ${JSON.stringify(r)}`);
  }
  assert.ok(Date.now() - started < 5000);
});
