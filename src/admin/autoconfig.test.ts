// Unit tests of the autoconfiguration documents and the MTA-STS policy: escaping, address
// validation, hostile autodiscover bodies.

import { test } from "node:test";
import assert from "node:assert/strict";
import { appleProfile, autodiscoverRequestAddress, autodiscoverResponse, mtaStsPolicy, parseMailAddress, thunderbirdConfig, xmlEscape, type ClientEndpoints } from "./autoconfig.js";
import { parsePolicy } from "../queue/mtasts.js";

const ep: ClientEndpoints = { hostname: "mail.example.org", imaps: 993, imapStarttls: 143, pop3s: 995, pop3Starttls: 110, submissions: 465, submissionStarttls: 587 };

test("xmlEscape escapes the five XML special characters", () => {
  assert.equal(xmlEscape(`<a href="x">'&'</a>`), "&lt;a href=&quot;x&quot;&gt;&apos;&amp;&apos;&lt;/a&gt;");
});

test("parseMailAddress: plain addresses only, domain lower-cased", () => {
  assert.deepEqual(parseMailAddress("Alice.B+tag@Example.ORG"), { address: "Alice.B+tag@example.org", local: "Alice.B+tag", domain: "example.org" });
  const bad = [
    "",
    "alice",
    "@example.org",
    "alice@",
    '"a b"@example.org',
    "a..b@example.org",
    ".a@example.org",
    "a<b>@example.org",
    "a@[192.0.2.1]",
    "a@-example.org",
    "a@example..org",
    "a@exa mple.org",
    "a@b@example.org",
    `${"a".repeat(65)}@example.org`,
    `a@${"b".repeat(250)}.org`,
    "a\n@example.org",
    "a@example.org\u0000",
  ];
  for (const b of bad) assert.equal(parseMailAddress(b), null, JSON.stringify(b));
});

test("thunderbirdConfig: implicit TLS before STARTTLS; absent listeners are left out; names escaped", () => {
  const xml = thunderbirdConfig("a@example.org", "example.org", { ...ep, pop3s: null, pop3Starttls: null, hostname: "m&m.example" });
  assert.ok(xml.indexOf("<port>993</port>") < xml.indexOf("<port>143</port>"));
  assert.ok(xml.indexOf("<port>465</port>") < xml.indexOf("<port>587</port>"));
  assert.ok(!xml.includes('type="pop3"'));
  assert.ok(xml.includes("<hostname>m&amp;m.example</hostname>"));
  assert.ok(!/socketType>plain/i.test(xml));
});

test("autodiscoverRequestAddress: extracts one address; ignores entities, DTDs and oversize input", () => {
  assert.equal(autodiscoverRequestAddress("<Request><EMailAddress> a@example.org </EMailAddress></Request>"), "a@example.org");
  assert.equal(autodiscoverRequestAddress("<emailaddress>a@example.org</emailaddress>"), "a@example.org");
  assert.equal(autodiscoverRequestAddress('<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><EMailAddress>&e;</EMailAddress>'), "&e;");
  assert.equal(parseMailAddress("&e;"), null, "the entity is never expanded and is not an address");
  assert.equal(autodiscoverRequestAddress(`<EMailAddress>${"a".repeat(300)}@example.org</EMailAddress>`), null);
  assert.equal(autodiscoverRequestAddress("<Request/>"), null);
});

test("autodiscoverResponse and appleProfile escape the address", () => {
  const evil = "a&b@example.org";
  assert.ok(autodiscoverResponse(evil, ep).includes("<LoginName>a&amp;b@example.org</LoginName>"));
  assert.ok(appleProfile(evil, ep)!.includes("<string>a&amp;b@example.org</string>"));
  assert.equal(appleProfile("a@example.org", { ...ep, imaps: null }), null, "no profile without implicit-TLS IMAP");
});

test("mtaStsPolicy: RFC 8461 §3.2 text, CRLF-separated, accepted by the outbound parser", () => {
  const text = mtaStsPolicy({ mode: "enforce", mx: ["mail.example.org", "*.backup.example.org"], maxAgeSeconds: 86400 });
  assert.equal(text, "version: STSv1\r\nmode: enforce\r\nmx: mail.example.org\r\nmx: *.backup.example.org\r\nmax_age: 86400\r\n");
  const p = parsePolicy(text);
  assert.ok(!("error" in p), JSON.stringify(p));
});
