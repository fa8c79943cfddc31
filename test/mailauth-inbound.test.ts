// End to end: SPF, DKIM and DMARC on the MX listener (threat model §3). A real server (test
// harness) uses a dns2 DNS server on 127.0.0.1 (outbound.dns_servers) publishing test domains;
// mail is sent by swaks and Python's smtplib from 127.0.0.1, and what the store holds is checked:
// the Authentication-Results header (authserv-id "localhost"), the mailbox (INBOX or Junk), the
// 550 5.7.1 refusal and its audit event, the removal of forged Authentication-Results headers,
// and — independently of mailauth — python3-dkim's verdict on the stored DKIM-signed message.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import net from "node:net";
import { generateKeyPairSync } from "node:crypto";
import dns2 from "dns2";
import { dkimSign } from "mailauth";
import { startTestServer, type TestServer } from "./helpers/server.js";

const ALICE = "alice@example.test";
const keys = generateKeyPairSync("rsa", { modulusLength: 1024 }); // a 1024-bit key's record fits a 512-octet UDP answer
const PRIVATE = keys.privateKey.export({ type: "pkcs8", format: "pem" }).toString();
const DKIM_TXT = `v=DKIM1; k=rsa; p=${keys.publicKey.export({ type: "spki", format: "der" }).toString("base64")}`;

const ZONE: Record<string, string[]> = {
  "good.test": ["v=spf1 ip4:127.0.0.1 -all"],
  "_dmarc.good.test": ["v=DMARC1; p=reject"],
  "rejecting.test": ["v=spf1 ip4:192.0.2.1 -all"],
  "_dmarc.rejecting.test": ["v=DMARC1; p=reject"],
  "quarantine.test": ["v=spf1 ip4:192.0.2.1 -all"],
  "_dmarc.quarantine.test": ["v=DMARC1; p=quarantine"],
  "signer.test": ["v=spf1 -all"],
  "_dmarc.signer.test": ["v=DMARC1; p=reject"],
  "sel._domainkey.signer.test": [DKIM_TXT],
};

/** TXT character-strings are at most 255 octets (RFC 1035 §3.3.14). */
const chunks = (s: string): string[] => s.match(/.{1,255}/g) ?? [""];

let dnsServer: ReturnType<typeof dns2.createServer>;
let dnsAddress = "";
let srv: TestServer;

before(async () => {
  const { Packet } = dns2;
  dnsServer = dns2.createServer({
    udp: true,
    handle: (request, send) => {
      const response = Packet.createResponseFromRequest(request);
      const q = request.questions[0]!;
      const name = q.name.toLowerCase().replace(/\.$/, "");
      const txt = ZONE[name];
      if (!txt) (response.header as { rcode: number }).rcode = 3; // NXDOMAIN
      else if (q.type === Packet.TYPE.TXT) {
        for (const t of txt) response.answers.push({ name: q.name, type: Packet.TYPE.TXT, class: Packet.CLASS.IN, ttl: 60, data: chunks(t) } as never);
      }
      send(response);
    },
  });
  const addrs = (await dnsServer.listen({ udp: { port: 0, address: "127.0.0.1" } })) as unknown as { udp: { port: number } };
  dnsAddress = `127.0.0.1:${addrs.udp.port}`;
  srv = await startTestServer({ config: { outbound: { dns_servers: [dnsAddress] } } });
  await srv.addUser(ALICE, "Correct-Horse-Battery-9");
});

after(async () => {
  await srv?.stop();
  await dnsServer?.close();
});

function run(cmd: string, args: string[], input = "", env: Record<string, string> = {}): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { env: { ...process.env, ...env } });
    let out = "";
    p.stdout.on("data", (d: Buffer) => (out += d.toString()));
    p.stderr.on("data", (d: Buffer) => (out += d.toString()));
    p.on("error", reject);
    p.on("close", (code) => resolve({ code: code ?? -1, out }));
    p.stdin.end(input);
  });
}

function swaks(o: { from: string; headerFrom: string; subject: string; extra?: string[] }): Promise<{ code: number; out: string }> {
  return run("swaks", [
    "--server", `127.0.0.1:${srv.ports.smtp}`,
    "--helo", "client.good.test",
    "--from", o.from,
    "--to", ALICE,
    "--header", `From: ${o.headerFrom}`,
    "--header", `Subject: ${o.subject}`,
    ...(o.extra ?? []),
    "--body", `body of ${o.subject}`,
  ]);
}

/** Raw messages in one of alice's mailboxes. */
async function mailbox(name: string): Promise<string[]> {
  const store = srv.services.store;
  const account = await store.getAccount(ALICE);
  const mb = await store.getMailbox(account!.id, name);
  const list = await store.listMessages(mb!.id);
  return Promise.all(list.map(async (m) => (await store.readBody(m.id)).toString("utf8")));
}

async function find(subject: string): Promise<{ folder: string; raw: string } | null> {
  for (const folder of ["INBOX", "Junk"]) {
    const raw = (await mailbox(folder)).find((m) => m.includes(`\r\nSubject: ${subject}\r\n`));
    if (raw) return { folder, raw };
  }
  return null;
}

/** python3-dkim (Debian's, for the system python) on a raw message: "valid" or "invalid". */
function verify(raw: string): Promise<{ code: number; out: string }> {
  return run(
    "/usr/bin/python3",
    ["-c", `
import sys, dkim, os
msg = sys.stdin.buffer.read()
txt = os.environ["TXT"].encode()
def dnsfunc(name, timeout=5):
    return txt if name.rstrip(b".") == b"sel._domainkey.signer.test" else None
print("valid" if dkim.verify(msg, dnsfunc=dnsfunc) else "invalid")
`],
    raw,
    { TXT: DKIM_TXT },
  );
}

async function sign(msg: Buffer): Promise<Buffer> {
  const data = { signingDomain: "signer.test", selector: "sel", privateKey: PRIVATE, algorithm: "rsa-sha256", canonicalization: "relaxed/relaxed" };
  const sig = await dkimSign(msg, { ...data, signatureData: [data] });
  assert.deepEqual(sig.errors, []);
  return Buffer.concat([Buffer.from(sig.signatures.replace(/\r?\n/g, "\r\n")), msg]);
}

/** The Authentication-Results fields of a stored message, unfolded. */
function authResults(raw: string): string[] {
  const head = raw.slice(0, raw.indexOf("\r\n\r\n") + 2).replace(/\r\n[ \t]+/g, " ");
  return head.split("\r\n").filter((l) => /^Authentication-Results:/i.test(l));
}

test("(a) SPF pass: stored in INBOX with Authentication-Results naming us, spf=pass and dmarc=pass", async () => {
  const r = await swaks({ from: "news@good.test", headerFrom: "News <news@good.test>", subject: "spf pass" });
  assert.equal(r.code, 0, r.out);
  const m = await find("spf pass");
  assert.equal(m?.folder, "INBOX");
  // Our trace fields first, then our Authentication-Results, then the message as sent.
  assert.match(m!.raw, /^Return-Path: <news@good\.test>\r\nReceived: from client\.good\.test [^]*?\r\nAuthentication-Results: localhost;\r\n\t/);
  const ar = authResults(m!.raw);
  assert.equal(ar.length, 1);
  assert.match(ar[0]!, /^Authentication-Results: localhost; /);
  assert.match(ar[0]!, /; spf=pass \(localhost: domain of news@good\.test designates 127\.0\.0\.1 as permitted sender\) smtp\.mailfrom=news@good\.test smtp\.helo=client\.good\.test;/);
  assert.match(ar[0]!, /; dmarc=pass \(p=REJECT; arc=none\) header\.from=good\.test$/);
  const ev = srv.events().find((e) => e.event === "smtp.received" && e.sender === "news@good.test");
  assert.deepEqual([ev?.folder, (ev?.auth as Record<string, string>)?.spf], ["INBOX", "pass"]);
});

test("(b) SPF -all without 127.0.0.1 and DMARC p=reject: 550 5.7.1 naming the DMARC result, audited, nothing stored", async () => {
  const r = await swaks({ from: "ceo@rejecting.test", headerFrom: "ceo@rejecting.test", subject: "dmarc reject" });
  assert.notEqual(r.code, 0);
  assert.match(r.out, /<\*\* 550 5\.7\.1 Message refused by DMARC policy: dmarc=fail for rejecting\.test \(policy reject\); spf=fail dkim=none/);
  assert.equal(await find("dmarc reject"), null);
  const ev = srv.events().find((e) => e.event === "smtp.sender.refused" && e.where === "dmarc");
  assert.ok(ev, "audit event");
  assert.equal(ev.sender, "ceo@rejecting.test");
  assert.equal(ev.dmarc, "fail:rejecting.test");
});

test("(c) DMARC p=quarantine failure: accepted (250) and filed to Junk, not INBOX", async () => {
  const r = await swaks({ from: "promo@quarantine.test", headerFrom: "promo@quarantine.test", subject: "dmarc quarantine" });
  assert.equal(r.code, 0, r.out);
  const m = await find("dmarc quarantine");
  assert.equal(m?.folder, "Junk");
  assert.match(authResults(m!.raw)[0]!, /; dmarc=fail \(p=QUARANTINE; arc=none\) header\.from=quarantine\.test$/);
  assert.ok(!(await mailbox("INBOX")).some((x) => x.includes("Subject: dmarc quarantine")));
});

test("(d) a DKIM-signed message (smtplib): dkim=pass, and python3-dkim verifies the stored copy independently", async () => {
  const msg = Buffer.from(
    "From: Signer <boss@signer.test>\r\nTo: alice@example.test\r\nSubject: dkim signed\r\nDate: Sun, 22 Nov 2026 05:00:00 +0000\r\n" +
      "Message-ID: <dkim-e2e@signer.test>\r\n\r\nSigned body.\r\n.leading dot line\r\n",
  );
  const signed = await sign(msg);
  // The envelope sender's SPF fails (signer.test: -all): only the aligned DKIM signature passes DMARC.
  const py = await run(
    "python3",
    ["-c", `
import smtplib, sys, os
data = sys.stdin.buffer.read()
with smtplib.SMTP("127.0.0.1", int(os.environ["PORT"]), local_hostname="py.signer.test") as s:
    s.sendmail("bounce@signer.test", ["alice@example.test"], data)
print("sent")
`],
    signed.toString("latin1"),
    { PORT: String(srv.ports.smtp) },
  );
  assert.match(py.out, /sent/, py.out);
  const m = await find("dkim signed");
  assert.equal(m?.folder, "INBOX");
  const ar = authResults(m!.raw)[0]!;
  assert.match(ar, /; dkim=pass header\.i=@signer\.test header\.s=sel header\.a=rsa-sha256 header\.b=\S+;/);
  assert.match(ar, /; spf=fail /);
  assert.match(ar, /; dmarc=pass \(p=REJECT; arc=none\) header\.from=signer\.test$/);

  // Independent check: Debian's python3-dkim (system python) on the stored message.
  const ok = await verify(m!.raw);
  assert.equal(ok.out.trim(), "valid", ok.out);
  const tampered = await verify(m!.raw.replace("Signed body.", "Changed body."));
  assert.equal(tampered.out.trim(), "invalid", tampered.out);
});

test("(e) a forged From: of our own domain (no SPF, no DKIM, no DMARC record published) lands in Junk with a note", async () => {
  const r = await swaks({ from: "attacker@good.test", headerFrom: "The CEO <ceo@example.test>", subject: "forged ceo" });
  assert.equal(r.code, 0, r.out);
  const m = await find("forged ceo");
  assert.equal(m?.folder, "Junk");
  const ar = authResults(m!.raw)[0]!;
  assert.match(ar, /; spf=pass /, "SPF passes for the envelope domain, which is not aligned with From:");
  assert.match(ar, /; dmarc=fail \(p=QUARANTINE; arc=none; local policy: no DMARC record published for our own domain\) header\.from=example\.test$/);
  const ev = srv.events().find((e) => e.event === "smtp.received" && e.sender === "attacker@good.test");
  assert.equal(ev?.folder, "Junk");
  assert.match(String(ev?.junkReason), /dmarc=fail for example\.test/);
});

test("(f) incoming Authentication-Results claiming our authserv-id are removed; other ADMDs' are kept", async () => {
  const r = await swaks({
    from: "news@good.test",
    headerFrom: "news@good.test",
    subject: "forged results",
    extra: [
      "--add-header", "Authentication-Results: localhost; dmarc=pass header.from=example.test",
      "--add-header", "Authentication-Results: (sneaky) LOCALHOST;\r\n\tdkim=pass header.d=example.test",
      "--add-header", "Authentication-Results: mx.other.example; spf=pass smtp.mailfrom=news@good.test",
    ],
  });
  assert.equal(r.code, 0, r.out);
  const m = await find("forged results");
  assert.ok(m);
  const ar = authResults(m.raw);
  assert.equal(ar.length, 2, ar.join("\n"));
  assert.match(ar[0]!, /^Authentication-Results: localhost; dkim=none/);
  assert.equal(ar[1], "Authentication-Results: mx.other.example; spf=pass smtp.mailfrom=news@good.test");
  assert.doesNotMatch(m.raw, /header\.d=example\.test|header\.from=example\.test/);
  assert.ok(srv.events().some((e) => e.event === "smtp.protocol.abuse" && e.reason === "forged-authentication-results" && e.count === 2));
});

test("authenticated submission is not checked: no Authentication-Results added", async () => {
  const py = await run(
    "python3",
    ["-c", `
import smtplib, ssl, os
ctx = ssl.create_default_context(cafile=os.environ["CA"])
ctx.check_hostname = False
with smtplib.SMTP("127.0.0.1", int(os.environ["PORT"])) as s:
    s.starttls(context=ctx)
    s.login("alice@example.test", "Correct-Horse-Battery-9")
    s.sendmail("alice@example.test", ["alice@example.test"], b"From: alice@example.test\\r\\nSubject: to myself\\r\\n\\r\\nhi\\r\\n")
print("sent")
`],
    "",
    { PORT: String(srv.ports.submission), CA: srv.certFile },
  );
  assert.match(py.out, /sent/, py.out);
  const m = await find("to myself");
  assert.equal(m?.folder, "INBOX");
  assert.deepEqual(authResults(m!.raw), []);
});

test("a 6 MB DKIM-signed message sent with BDAT (RFC 3030): verified over the whole body, stored intact with our header", async () => {
  const body = Array.from({ length: 80_000 }, (_, i) => `line ${i} ${"abcdefghij".repeat(7)}`).join("\r\n") + "\r\n";
  const msg = await sign(
    Buffer.from(`From: boss@signer.test\r\nTo: alice@example.test\r\nSubject: big bdat\r\nDate: Sun, 22 Nov 2026 05:00:00 +0000\r\n\r\n${body}`),
  );
  assert.ok(msg.length > 6_000_000);
  const replies: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const c = net.connect(srv.ports.smtp, "127.0.0.1");
    let buf = "";
    const steps: Array<() => void> = [
      () => c.write("EHLO bdat.signer.test\r\n"),
      () => c.write("MAIL FROM:<bounce@signer.test>\r\n"),
      () => c.write("RCPT TO:<alice@example.test>\r\n"),
      () => {
        c.write(`BDAT ${msg.length} LAST\r\n`);
        c.write(msg);
      },
      () => c.write("QUIT\r\n"),
    ];
    c.on("data", (d: Buffer) => {
      buf += d.toString("latin1");
      let i: number;
      while ((i = buf.indexOf("\r\n")) !== -1) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (line[3] === "-") continue;
        replies.push(line);
        steps.shift()?.();
      }
    });
    c.on("close", () => resolve());
    c.on("error", reject);
  });
  assert.match(replies[4] ?? "", /^250 2\.0\.0 Ok: queued as /, replies.join(" | "));
  const m = await find("big bdat");
  assert.equal(m?.folder, "INBOX");
  assert.match(authResults(m!.raw)[0]!, /; dkim=pass header\.i=@signer\.test .*; dmarc=pass /);
  assert.ok(m!.raw.endsWith(msg.toString("latin1")), "the message as sent follows our trace and Authentication-Results fields");
  const ok = await verify(m!.raw);
  assert.equal(ok.out.trim(), "valid", ok.out);
});
