// Unit tests of inbound mail authentication (verify.ts) against a fake DNS zone: SPF with the
// RFC 7208 Appendix A zone, DKIM with a key made here (mailauth's dkimSign), DMARC policies
// (RFC 7489 §6.3), our own-domain policy, Authentication-Results formatting and stripping
// (RFC 8601), the policy decision table and the deadline.

import { test } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { Readable } from "node:stream";
import { dkimSign, sealMessage } from "mailauth";
import { zoneLookup, type DnsLookup } from "./resolver.js";
import {
  authservIdOf,
  decide,
  dmarcRow,
  formatAuthResults,
  stripOwnAuthResults,
  verifyInbound,
  VerifyTimeout,
  type DomainEvaluation,
  type VerifyOptions,
} from "./verify.js";

const keys = generateKeyPairSync("rsa", { modulusLength: 2048 });
const PRIVATE = keys.privateKey.export({ type: "pkcs8", format: "pem" }).toString();
const PUBLIC = keys.publicKey.export({ type: "spki", format: "der" }).toString("base64");

// RFC 7208 Appendix A.1 (addresses as in the RFC), plus DMARC and DKIM records for the tests.
const ZONE: Parameters<typeof zoneLookup>[0] = {
  "example.com": { A: ["192.0.2.10", "192.0.2.11"], MX: ["10 mail-a.example.com", "20 mail-b.example.com"], TXT: ["v=spf1 mx -all"] },
  "mail-a.example.com": { A: ["192.0.2.129"] },
  "mail-b.example.com": { A: ["192.0.2.130"] },
  "_dmarc.example.com": { TXT: ["v=DMARC1; p=reject; rua=mailto:d@example.com"] },
  "sel._domainkey.example.com": { TXT: [`v=DKIM1; k=rsa; p=${PUBLIC}`] },
  "quarantined.example": { TXT: ["v=spf1 ip4:198.51.100.0/24 -all"] },
  "_dmarc.quarantined.example": { TXT: ["v=DMARC1; p=quarantine"] },
  "relaxed.example": { TXT: ["v=spf1 a -all"], A: ["192.0.2.10"] },
  "_dmarc.relaxed.example": { TXT: ["v=DMARC1; p=none"] },
  "sampled.example": { TXT: ["v=spf1 -all"] },
  "_dmarc.sampled.example": { TXT: ["v=DMARC1; p=reject; pct=0"] },
  "nopolicy.example": { TXT: ["v=spf1 -all"] },
  "helo.example": { TXT: ["v=spf1 ip4:192.0.2.200 -all"] },
  // Our own domains: ours.test publishes nothing; none.ours2.test publishes p=none; strict.test p=reject.
  "ours2.test": { TXT: ["v=spf1 ip4:203.0.113.5 -all"] },
  "_dmarc.ours2.test": { TXT: ["v=DMARC1; p=none"] },
  "strict.test": { TXT: ["v=spf1 ip4:203.0.113.5 -all"] },
  "_dmarc.strict.test": { TXT: ["v=DMARC1; p=reject"] },
  "sel._domainkey.ours.test": { TXT: [`v=DKIM1; k=rsa; p=${PUBLIC}`] },
  // Strict alignment (RFC 7489 §3.1.1): the envelope and signing domain are a subdomain of From:'s.
  "bounces.strictalign.example": { TXT: ["v=spf1 ip4:192.0.2.50 -all"] },
  "_dmarc.strictalign.example": { TXT: ["v=DMARC1; p=reject; aspf=s; adkim=s"] },
  "bounces.relaxalign.example": { TXT: ["v=spf1 ip4:192.0.2.50 -all"] },
  "_dmarc.relaxalign.example": { TXT: ["v=DMARC1; p=reject"] },
  "sel._domainkey.mail.strictalign.example": { TXT: [`v=DKIM1; k=rsa; p=${PUBLIC}`] },
  "sel._domainkey.strictalign.example": { TXT: [`v=DKIM1; k=rsa; p=${PUBLIC}`] },
};

const HOST = "mx.ours.test";
const LOCAL = new Set(["ours.test", "ours2.test", "strict.test"]);

function opts(over: Partial<VerifyOptions> = {}): VerifyOptions {
  return { authservId: HOST, localDomains: LOCAL, lookup: zoneLookup(ZONE), dmarcReject: true, random: () => 0.5, ...over };
}

function message(from: string, extra = ""): Buffer {
  return Buffer.from(
    `From: Someone <${from}>\r\nTo: rcpt@ours.test\r\nSubject: test\r\nDate: Sun, 22 Nov 2026 05:00:00 +0000\r\n` +
      `Message-ID: <${Math.random().toString(36).slice(2)}@x>\r\n${extra}\r\nHello.\r\n`,
  );
}

async function signed(msg: Buffer, domain: string): Promise<Buffer> {
  const data = { signingDomain: domain, selector: "sel", privateKey: PRIVATE, algorithm: "rsa-sha256", canonicalization: "relaxed/relaxed" };
  const r = await dkimSign(msg, { ...data, signatureData: [data] });
  assert.equal(r.errors.length, 0);
  return Buffer.concat([Buffer.from(r.signatures.replace(/\r?\n/g, "\r\n")), msg]);
}

/** The field unfolded (RFC 5322 §2.2.3), for matching regardless of where it was folded. */
const unfold = (h: string): string => h.replace(/\r\n[ \t]+/g, " ");

/** Every line of an Authentication-Results field: the first names us, the rest are folds. */
function assertWellFormed(header: string): void {
  assert.ok(header.endsWith("\r\n"));
  const lines = header.slice(0, -2).split("\r\n");
  assert.match(lines[0]!, new RegExp(`^Authentication-Results: ${HOST.replace(/\./g, "\\.")};?`));
  for (const l of lines.slice(1)) assert.match(l, /^\t/, `continuation line: ${JSON.stringify(l)}`);
  for (const l of lines) assert.ok(l.length < 200, `short line: ${l.length}`);
  assert.doesNotMatch(header.slice(0, -2), /\r(?!\n)|(?<!\r)\n|[\x00-\x08\x0b\x0c\x0e-\x1f]/);
}

test("SPF pass (RFC 7208 App. A: mx mechanism) and aligned: dmarc=pass, INBOX, our authserv-id", async () => {
  const v = await verifyInbound(message("alice@example.com"), { ip: "192.0.2.129", helo: "mail-a.example.com", sender: "bounce@example.com" }, opts());
  assert.deepEqual(v.disposition, { action: "inbox" });
  assert.equal(v.spf, "pass");
  assert.equal(v.dmarc, "pass:example.com");
  assertWellFormed(v.header);
  assert.match(unfold(v.header), / spf=pass \(.*\) smtp\.mailfrom=bounce@example\.com smtp\.helo=mail-a\.example\.com/);
  assert.match(unfold(v.header), / dmarc=pass \(p=REJECT; arc=none\) header\.from=example\.com\r\n$/);
  assert.match(unfold(v.header), / dkim=none/);
});

test("SPF fail from an address the mx mechanism does not cover, DMARC p=reject: refused", async () => {
  const v = await verifyInbound(message("alice@example.com"), { ip: "192.0.2.10", helo: "evil.test", sender: "bounce@example.com" }, opts());
  assert.equal(v.spf, "fail");
  assert.equal(v.disposition.action, "reject");
  assert.match((v.disposition as { reason: string }).reason, /^dmarc=fail for example\.com \(policy reject\)$/);
  assert.match(unfold(v.header), /dmarc=fail \(p=REJECT; arc=none\) header\.from=example\.com/);
});

test("with dmarc_reject off, a p=reject failure goes to Junk instead", async () => {
  const v = await verifyInbound(message("alice@example.com"), { ip: "192.0.2.10", helo: "evil.test", sender: "bounce@example.com" }, opts({ dmarcReject: false }));
  assert.equal(v.disposition.action, "junk");
});

test("DMARC p=quarantine failure: Junk", async () => {
  const v = await verifyInbound(message("news@quarantined.example"), { ip: "192.0.2.99", helo: "h.test", sender: "news@quarantined.example" }, opts());
  assert.equal(v.spf, "fail");
  assert.deepEqual(v.disposition, { action: "junk", reason: "dmarc=fail for quarantined.example (policy quarantine)" });
});

test("p=none failure of someone else's domain: INBOX, reported as dmarc=fail", async () => {
  const v = await verifyInbound(message("x@relaxed.example"), { ip: "192.0.2.99", helo: "h.test", sender: "x@relaxed.example" }, opts());
  assert.deepEqual(v.disposition, { action: "inbox" });
  assert.match(unfold(v.header), /dmarc=fail \(p=NONE; arc=none\) header\.from=relaxed\.example/);
});

test("pct=0 (RFC 7489 §6.6.4): a p=reject failure outside the sample gets quarantine", async () => {
  const v = await verifyInbound(message("x@sampled.example"), { ip: "192.0.2.99", helo: "h.test", sender: "x@sampled.example" }, opts());
  assert.equal(v.disposition.action, "junk");
  assert.match(unfold(v.header), /dmarc=fail \(p=REJECT; pct=0; arc=none\)/);
});

test("DKIM: a valid signature aligned with From: passes DMARC even when SPF fails", async () => {
  const msg = await signed(message("alice@example.com"), "example.com");
  const v = await verifyInbound(msg, { ip: "192.0.2.10", helo: "forwarder.test", sender: "fwd@nopolicy.example" }, opts());
  assert.deepEqual(v.dkim, ["pass:example.com"]);
  assert.equal(v.spf, "fail");
  assert.deepEqual(v.disposition, { action: "inbox" });
  assert.match(unfold(v.header), / dkim=pass header\.i=@example\.com header\.s=sel header\.a=rsa-sha256 header\.b=\S+;/);
  assert.match(unfold(v.header), /dmarc=pass/);
});

test("DKIM: a body changed after signing fails, and DMARC p=reject then refuses", async () => {
  const msg = Buffer.from((await signed(message("alice@example.com"), "example.com")).toString().replace("Hello.", "Pay now."));
  const v = await verifyInbound(msg, { ip: "192.0.2.10", helo: "forwarder.test", sender: "fwd@nopolicy.example" }, opts());
  assert.deepEqual(v.dkim, ["fail:example.com"]);
  assert.match(unfold(v.header), /dkim=fail \(body hash did not verify\)/);
  assert.equal(v.disposition.action, "reject");
});

test("a stream is accepted as the message", async () => {
  const msg = await signed(message("alice@example.com"), "example.com");
  const v = await verifyInbound(Readable.from([msg.subarray(0, 50), msg.subarray(50)]), { ip: "192.0.2.10", helo: "f.test", sender: "" }, opts());
  assert.deepEqual(v.dkim, ["pass:example.com"]);
});

test("nothing published: spf=none, dmarc=none, INBOX", async () => {
  const v = await verifyInbound(message("a@unknown.example"), { ip: "192.0.2.1", helo: "h.test", sender: "a@unknown.example" }, opts());
  assert.equal(v.spf, "none");
  assert.equal(v.dmarc, "none:unknown.example");
  assert.deepEqual(v.disposition, { action: "inbox" });
});

test("null sender: SPF checks postmaster@<HELO> (RFC 7208 §2.4)", async () => {
  const v = await verifyInbound(message("a@helo.example"), { ip: "192.0.2.200", helo: "helo.example", sender: "" }, opts());
  assert.equal(v.spf, "pass");
  assert.match(unfold(v.header), /smtp\.mailfrom=postmaster@helo\.example/);
});

test("DNS failure during SPF: spf=temperror, the message is still delivered (no DMARC record to enforce)", async () => {
  const failing: DnsLookup = async (name, type) => {
    if (name === "flaky.example") throw Object.assign(new Error("timeout"), { code: "ETIMEOUT" });
    return zoneLookup(ZONE)(name, type);
  };
  const v = await verifyInbound(message("a@flaky.example"), { ip: "192.0.2.1", helo: "h.test", sender: "a@flaky.example" }, opts({ lookup: failing }));
  assert.equal(v.spf, "temperror");
  assert.deepEqual(v.disposition, { action: "inbox" });
});

test("our own domain without DNS records, forged From: and no DKIM: Junk, with the local policy in the header", async () => {
  const v = await verifyInbound(message("ceo@ours.test"), { ip: "198.51.100.7", helo: "spoofer.test", sender: "ceo@ours.test" }, opts());
  assert.equal(v.disposition.action, "junk");
  assert.match((v.disposition as { reason: string }).reason, /our own domain without a published DMARC record/);
  assertWellFormed(v.header);
  assert.match(unfold(v.header), /dmarc=fail \(p=QUARANTINE; arc=none; local policy: no DMARC record published for our own domain\) header\.from=ours\.test/);
  assert.deepEqual(v.from, [{ domain: "ours.test", result: "fail", published: null, pct: 100, local: true, synthesized: true }]);
});

test("our own domain with a valid DKIM signature of that domain: INBOX", async () => {
  const msg = await signed(message("ceo@ours.test"), "ours.test");
  const v = await verifyInbound(msg, { ip: "198.51.100.7", helo: "list.test", sender: "bounces@list.example" }, opts());
  assert.deepEqual(v.disposition, { action: "inbox" });
  assert.match(unfold(v.header), /dmarc=pass \(p=QUARANTINE; arc=none; local policy/);
});

test("a subdomain of our domain is held to the same policy; SPF pass of an unrelated domain is not alignment", async () => {
  const v = await verifyInbound(message("x@billing.ours.test"), { ip: "192.0.2.129", helo: "h.test", sender: "bounce@example.com" }, opts());
  assert.equal(v.spf, "pass");
  assert.equal(v.disposition.action, "junk");
});

test("our own domain publishing p=none is still held to quarantine; publishing p=reject is refused", async () => {
  const a = await verifyInbound(message("x@ours2.test"), { ip: "192.0.2.1", helo: "h.test", sender: "x@ours2.test" }, opts());
  assert.equal(a.disposition.action, "junk");
  assert.match(unfold(a.header), /dmarc=fail \(p=NONE; arc=none; local policy: our own domain is held to quarantine\)/);
  const ok = await verifyInbound(message("x@ours2.test"), { ip: "203.0.113.5", helo: "h.test", sender: "x@ours2.test" }, opts());
  assert.deepEqual(ok.disposition, { action: "inbox" });
  const b = await verifyInbound(message("x@strict.test"), { ip: "192.0.2.1", helo: "h.test", sender: "x@strict.test" }, opts());
  assert.equal(b.disposition.action, "reject");
});

test("our own domain when DNS is down: the local policy still applies (no temperror loophole)", async () => {
  const down: DnsLookup = async () => {
    throw Object.assign(new Error("refused"), { code: "ECONNREFUSED" });
  };
  const v = await verifyInbound(message("ceo@ours.test"), { ip: "198.51.100.7", helo: "s.test", sender: "ceo@ours.test" }, opts({ lookup: down }));
  assert.equal(v.disposition.action, "junk");
});

test("two From: header fields are refused; one From: with two domains takes the strictest policy", async () => {
  const two = await verifyInbound(message("a@unknown.example", "From: ceo@ours.test\r\n"), { ip: "192.0.2.1", helo: "h.test", sender: "a@unknown.example" }, opts());
  assert.equal(two.disposition.action, "reject");
  assert.match((two.disposition as { reason: string }).reason, /more than one From:/);
  const both = Buffer.from(message("a@unknown.example").toString().replace(/^From: .*\r\n/, "From: a@unknown.example, b@example.com\r\n"));
  const v = await verifyInbound(both, { ip: "192.0.2.1", helo: "h.test", sender: "a@unknown.example" }, opts());
  assert.equal(v.dmarc, "none:unknown.example,fail:example.com");
  assert.equal(v.disposition.action, "reject");
});

test("no From: at all: dmarc=none, INBOX", async () => {
  const v = await verifyInbound(Buffer.from("Subject: x\r\n\r\nbody\r\n"), { ip: "192.0.2.1", helo: "h.test", sender: "" }, opts());
  assert.deepEqual(v.disposition, { action: "inbox" });
  assert.match(unfold(v.header), /dmarc=none \(no From: header field\)/);
});

test("a hostile From: domain cannot inject header lines or break the result syntax", async () => {
  const hostile = Buffer.from("From: x@a(b);c.example\r\nSubject: x\r\n\r\nbody\r\n");
  const v = await verifyInbound(hostile, { ip: "192.0.2.1", helo: "h.test", sender: "" }, opts());
  assertWellFormed(v.header);
});

test("the deadline: a resolver that never answers gives VerifyTimeout", async () => {
  const never: DnsLookup = () => new Promise(() => undefined);
  await assert.rejects(verifyInbound(message("a@example.com"), { ip: "192.0.2.1", helo: "h.test", sender: "a@example.com" }, opts({ lookup: never, timeoutMs: 200 })), VerifyTimeout);
});

test("decide: table of outcomes", () => {
  const e = (over: Partial<DomainEvaluation>): DomainEvaluation => ({ domain: "d.example", result: "fail", published: "reject", pct: 100, local: false, synthesized: false, ...over });
  const o = { dmarcReject: true, multipleFrom: false, random: () => 0.5 };
  assert.equal(decide([e({})], o).action, "reject");
  assert.equal(decide([e({ result: "pass" })], o).action, "inbox");
  assert.equal(decide([e({ result: "temperror" })], o).action, "inbox");
  assert.equal(decide([e({ result: "none", published: null })], o).action, "inbox");
  assert.equal(decide([e({ published: "quarantine" })], o).action, "junk");
  assert.equal(decide([e({ published: "none" })], o).action, "inbox");
  assert.equal(decide([e({ published: "none", local: true })], o).action, "junk");
  assert.equal(decide([e({ published: null, local: true, synthesized: true })], o).action, "junk");
  assert.equal(decide([e({ pct: 50 })], { ...o, random: () => 0.2 }).action, "reject"); // sampled
  assert.equal(decide([e({ pct: 50 })], { ...o, random: () => 0.7 }).action, "junk"); // not sampled: next weaker
  assert.equal(decide([e({ published: "quarantine", pct: 0 })], o).action, "inbox");
  assert.equal(decide([e({ published: "quarantine", pct: 0, local: true })], o).action, "junk");
  assert.equal(decide([e({ result: "pass" }), e({ published: "quarantine" })], o).action, "junk");
  assert.equal(decide([], { ...o, multipleFrom: true }).action, "reject");
  assert.equal(decide([e({})], { ...o, dmarcReject: false }).action, "junk");
});

test("authservIdOf (RFC 8601 §2.2): token, quoted string, leading comments, version, no-result", () => {
  assert.equal(authservIdOf("mx.ours.test; spf=pass smtp.mailfrom=a@b"), "mx.ours.test");
  assert.equal(authservIdOf("MX.Ours.Test 1; none"), "mx.ours.test");
  assert.equal(authservIdOf("  (forged (nested) comment) mx.ours.test.;dkim=pass"), "mx.ours.test");
  assert.equal(authservIdOf('"mx.ours.test"; dmarc=pass'), "mx.ours.test");
  assert.equal(authservIdOf("mx.ours.test"), "mx.ours.test");
  assert.equal(authservIdOf("(unterminated mx.ours.test; x"), null);
  assert.equal(authservIdOf("   "), null);
});

test("stripOwnAuthResults (RFC 8601 §5): removes folded and differently-cased fields naming us, keeps the rest byte for byte", () => {
  const header = Buffer.from(
    "Authentication-Results: mx.ours.test;\r\n\tdmarc=pass header.from=ours.test\r\n" +
      "Received: from a by b; Sun, 22 Nov 2026 05:00:00 +0000\r\n" +
      "authentication-results : (x) MX.OURS.TEST; spf=pass\r\n" +
      "Authentication-Results: mx.google.com; dkim=pass\r\n" +
      "Subject: caf\xc3\xa9\r\n \tcontinued\r\n\r\n",
    "latin1",
  );
  const r = stripOwnAuthResults(header, HOST);
  assert.equal(r.removed, 2);
  assert.equal(
    r.header.toString("latin1"),
    "Received: from a by b; Sun, 22 Nov 2026 05:00:00 +0000\r\nAuthentication-Results: mx.google.com; dkim=pass\r\nSubject: caf\xc3\xa9\r\n \tcontinued\r\n\r\n",
  );
  const none = stripOwnAuthResults(Buffer.from("Subject: x\r\n\r\n"), HOST);
  assert.equal(none.removed, 0);
  // A header section that is the whole message (no empty line) and one that starts with the empty line.
  assert.equal(stripOwnAuthResults(Buffer.from("Authentication-Results: mx.ours.test; none"), HOST).header.toString(), "");
  assert.equal(stripOwnAuthResults(Buffer.from("\r\n"), HOST).header.toString(), "\r\n");
});

test("formatAuthResults and dmarcRow: one resinfo per line, comments escaped, long rows folded", () => {
  assert.equal(formatAuthResults("h.test", []), "Authentication-Results: h.test; none\r\n");
  const long = `spf=pass (${"word ".repeat(60).trim()}) smtp.mailfrom=a@b.example`;
  const out = formatAuthResults("h.test", ["dkim=none", long]);
  assert.ok(out.startsWith("Authentication-Results: h.test;\r\n\tdkim=none;\r\n\tspf=pass (word"));
  for (const line of out.split("\r\n")) assert.ok(line.length <= 110, line);
  const row = dmarcRow({ domain: "we(ird).example", result: "fail", published: null, pct: 100, local: false, synthesized: false }, "none");
  assert.equal(row, 'dmarc=fail (arc=none) header.from="we(ird).example"');
});

test("ARC (RFC 8617): a valid chain is reported as arc=pass; a chain whose seal key does not verify is not", async () => {
  const sealed = async (msg: Buffer) => {
    const seal = await sealMessage(msg, {
      signingDomain: "forwarder.example",
      selector: "arc",
      privateKey: PRIVATE,
      authResults: "forwarder.example; spf=pass smtp.mailfrom=a@list.example",
      cv: "none",
    } as Parameters<typeof sealMessage>[1]);
    return Buffer.concat([Buffer.from(seal.toString().replace(/\r?\n/g, "\r\n")), msg]);
  };
  const msg = await sealed(message("a@list.example"));
  const zone = { ...ZONE, "arc._domainkey.forwarder.example": { TXT: [`v=DKIM1; k=rsa; p=${PUBLIC}`] } };
  const v = await verifyInbound(msg, { ip: "192.0.2.1", helo: "h.test", sender: "" }, opts({ lookup: zoneLookup(zone) }));
  assert.equal(v.arc, "pass");
  assert.match(unfold(v.header), /; arc=pass \(i=1 spf=pass\);/);
  const other = generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey.export({ type: "spki", format: "der" }).toString("base64");
  const bad = await verifyInbound(msg, { ip: "192.0.2.1", helo: "h.test", sender: "" }, opts({ lookup: zoneLookup({ ...ZONE, "arc._domainkey.forwarder.example": { TXT: [`v=DKIM1; k=rsa; p=${other}`] } }) }));
  assert.equal(bad.arc, "fail");
});

test("alignment modes (RFC 7489 §3.1): relaxed accepts a subdomain's SPF; aspf=s/adkim=s need the exact domain", async () => {
  const env = { ip: "192.0.2.50", helo: "h.test", sender: "b@bounces.relaxalign.example" };
  const relaxed = await verifyInbound(message("a@relaxalign.example"), env, opts());
  assert.equal(relaxed.spf, "pass");
  assert.deepEqual(relaxed.disposition, { action: "inbox" });
  const strictSpf = await verifyInbound(message("a@strictalign.example"), { ...env, sender: "b@bounces.strictalign.example" }, opts());
  assert.equal(strictSpf.spf, "pass");
  assert.equal(strictSpf.dmarc, "fail:strictalign.example");
  assert.equal(strictSpf.disposition.action, "reject");
  const subSigned = await signed(message("a@strictalign.example"), "mail.strictalign.example");
  const strictDkim = await verifyInbound(subSigned, { ...env, sender: "" }, opts());
  assert.deepEqual(strictDkim.dkim, ["pass:mail.strictalign.example"]);
  assert.equal(strictDkim.disposition.action, "reject");
  const exact = await verifyInbound(await signed(message("a@strictalign.example"), "strictalign.example"), { ...env, sender: "" }, opts());
  assert.deepEqual(exact.disposition, { action: "inbox" });
});
