import { test } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { recordsFor, zoneLine, quoteTxt, checkRecord, mtaStsPolicy, mtaStsId, dkimPublicKey } from "./records.js";

const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const pem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
const spki = publicKey.export({ type: "spki", format: "der" }).toString("base64");

const records = recordsFor({
  domain: "example.org",
  hostname: "mail.example.org",
  selector: "portcullis",
  dkimPrivateKey: pem,
  ipv4: ["192.0.2.10"],
  ipv6: ["2001:db8::10"],
  services: [
    { service: "_submissions", port: 465 },
    { service: "_submission", port: 587 },
    { service: "_imaps", port: 993 },
    { service: "_imap", port: null },
    { service: "_pop3s", port: 995 },
    { service: "_pop3", port: null },
  ],
});
const byName = (n: string, t?: string) => records.find((r) => r.name === n && (t === undefined || r.type === t))!;

test("the records to publish", () => {
  assert.equal(zoneLine(byName("example.org.", "MX")), "example.org. 3600 IN MX 10 mail.example.org.");
  assert.equal(byName("example.org.", "TXT").value, "v=spf1 mx ip4:192.0.2.10 ip6:2001:db8::10 -all");
  assert.equal(byName("portcullis._domainkey.example.org.").value, `v=DKIM1; k=rsa; p=${spki}`);
  assert.equal(byName("_dmarc.example.org.").value, "v=DMARC1; p=quarantine; rua=mailto:dmarc-reports@example.org");
  assert.match(byName("_mta-sts.example.org.").value, /^v=STSv1; id=[0-9a-f]{20}$/);
  assert.equal(byName("mta-sts.example.org.").value, "mail.example.org.");
  assert.equal(byName("_smtp._tls.example.org.").value, "v=TLSRPTv1; rua=mailto:tls-reports@example.org");
  assert.equal(byName("_submissions._tcp.example.org.").value, "0 1 465 mail.example.org.");
  assert.equal(byName("_submission._tcp.example.org.").value, "10 1 587 mail.example.org.");
  assert.equal(byName("_imap._tcp.example.org.").value, "0 0 0 .", "RFC 6186 §3.4: not offered");
  assert.equal(dkimPublicKey(pem).p, spki);
});

test("long TXT values are split into 255-octet strings", () => {
  const line = zoneLine(byName("portcullis._domainkey.example.org."));
  const strings = [...line.matchAll(/"([^"]*)"/g)].map((m) => m[1]!);
  assert.ok(strings.length >= 2 && strings.every((s) => s.length <= 255));
  assert.equal(strings.join(""), `v=DKIM1; k=rsa; p=${spki}`);
  assert.equal(quoteTxt('a"b'), '"a\\"b"');
});

test("MTA-STS policy text and id", () => {
  const p = mtaStsPolicy("mail.example.org.");
  assert.equal(p, "version: STSv1\r\nmode: testing\r\nmx: mail.example.org\r\nmax_age: 604800\r\n");
  assert.notEqual(mtaStsId(p), mtaStsId(mtaStsPolicy("mail.example.org", "enforce")));
});

test("--check: ok, missing, different, record by record", () => {
  assert.deepEqual(checkRecord(byName("example.org.", "MX"), ["10 mail.example.org"]), { status: "ok" });
  assert.deepEqual(checkRecord(byName("example.org.", "MX"), []), { status: "missing" });
  assert.equal(checkRecord(byName("example.org.", "MX"), ["10 other.example"]).status, "different");
  const spf = byName("example.org.", "TXT");
  assert.deepEqual(checkRecord(spf, ["google-site-verification=x", "v=spf1 mx ip4:192.0.2.10 ip6:2001:db8::10 -all"]), { status: "ok" });
  assert.deepEqual(checkRecord(spf, ["google-site-verification=x"]), { status: "missing" });
  assert.equal(checkRecord(spf, ["v=spf1 a ~all"]).status, "different");
  assert.equal(checkRecord(spf, [spf.value, spf.value]).status, "different", "two SPF records are an error (RFC 7208 §4.5)");
  const dkim = byName("portcullis._domainkey.example.org.");
  assert.deepEqual(checkRecord(dkim, [`v=DKIM1; k=rsa; p=${spki}`.replace("; ", ";")]), { status: "ok" });
  assert.equal(checkRecord(dkim, ["v=DKIM1; k=rsa; p=MIIBother"]).status, "different");
  const dmarc = byName("_dmarc.example.org.");
  assert.deepEqual(checkRecord(dmarc, ["v=DMARC1; p=quarantine; rua=mailto:dmarc-reports@example.org; pct=100"]), { status: "ok" });
  assert.equal(checkRecord(dmarc, ["v=DMARC1; p=none"]).status, "different");
  const srv = byName("_submissions._tcp.example.org.");
  assert.deepEqual(checkRecord(srv, ["0 1 465 mail.example.org"]), { status: "ok" });
  assert.equal(checkRecord(srv, ["0 1 587 mail.example.org"]).status, "different");
  assert.deepEqual(checkRecord(byName("_imap._tcp.example.org."), ["0 0 0 ."]), { status: "ok" });
});
