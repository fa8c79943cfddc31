// End to end, outbound delivery (issue 7): a local user submits mail for remote domains over the
// submission port (nodemailer), and the queue runner delivers it to real peers nobody here wrote:
// Postfix's smtp-sink reached through [outbound.routes] (a destination without STARTTLS), and
// through MX lookup answered by a dns2 DNS server; a recipient refused with 5xx comes back as an
// RFC 3464 DSN in the sender's INBOX; a null MX fails at once. The DKIM signature of a delivered
// message verifies with Debian's python3-dkim against the record `portcullis dns` prints.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { randomInt, generateKeyPairSync } from "node:crypto";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { runCli } from "./helpers/cli.js";
import { startSink, startDns, submit, until, pythonDkimVerify, sinkToWire, inboxOf, type Sink, type TestDns, type ZoneRecord } from "./fixtures/queue-peers.js";

const ALICE = "alice@example.test";
const ALICE_PW = "alice-pass-5c2e8f1a";

let srv: TestServer;
let dns: TestDns;
let routed: Sink; // smtp-sink via [outbound.routes]
let refusing: Sink; // smtp-sink refusing every RCPT with 5xx
let mxSink: Sink; // smtp-sink on port 25 of a random 127/8 address, found through MX
let mxAddress: string;

before(async () => {
  routed = await startSink();
  refusing = await startSink({ args: ["-f", "RCPT"] });
  // MX delivery goes to port 25 (RFC 5321 §4.5.4.2): a random loopback address keeps it private to this test.
  mxAddress = `127.${randomInt(1, 250)}.${randomInt(1, 250)}.${randomInt(2, 250)}`;
  mxSink = await startSink({ host: mxAddress, port: 25 });
  const zone = new Map<string, ZoneRecord[]>([
    // The preferred MX has no listener: delivery falls back to the next preference (RFC 5321 §5.1).
    ["mx-dest.test", [{ type: "MX", exchange: "mx2.mx-dest.test", priority: 20 }, { type: "MX", exchange: "mx1.mx-dest.test", priority: 10 }]],
    ["mx1.mx-dest.test", [{ type: "A", address: "127.0.0.1" }]], // nothing listens on 127.0.0.1:25 here
    ["mx2.mx-dest.test", [{ type: "A", address: mxAddress }]],
    ["nullmx.test", [{ type: "MX", exchange: "", priority: 0 }]], // RFC 7505
  ]);
  dns = await startDns(zone);
  srv = await startTestServer({
    config: {
      outbound: {
        routes: { "routed.test": `127.0.0.1:${routed.port}`, "refused.test": `127.0.0.1:${refusing.port}` },
        dns_servers: [dns.server],
        retry_initial: "1s",
      },
    },
  });
  await srv.addUser(ALICE, ALICE_PW);
});

after(async () => {
  await srv?.stop();
  await Promise.all([routed?.stop(), refusing?.stop(), mxSink?.stop(), dns?.stop()]);
});

const events = (name: string): Array<Record<string, unknown>> => srv.events().filter((e) => e.event === name);

test("routed delivery to smtp-sink (no STARTTLS offered): delivered in plain text, DKIM-signed, verified by python3-dkim", async () => {
  await submit(srv, ALICE, ALICE_PW, { to: "Rob <rob@routed.test>", subject: "Hello over the route", text: "Line one\n.leading dot\nbye\n" });
  await until("queue.delivered", () => events("queue.delivered").find((e) => e.domain === "routed.test"));
  const [dump] = await routed.messages(); // complete: smtp-sink answered 250 after writing it
  assert.match(dump!, /^X-Mail-Args: <alice@example\.test>/m);
  assert.match(dump!, /^X-Rcpt-Args: <rob@routed\.test>/m);
  assert.match(dump!, /^Subject: Hello over the route$/m);
  assert.match(dump!, /^\.leading dot$/m, "dot-stuffing was undone by the receiver: the line arrives as written");
  assert.doesNotMatch(dump!, /^Return-Path:/m, "no Return-Path: leaves the server (RFC 5321 §4.4)");
  const sig = /^DKIM-Signature: (.*(?:\n[ \t].*)*)/m.exec(dump!);
  assert.ok(sig, "the message carries a DKIM-Signature");
  assert.match(sig[1]!, /d=example\.test/);
  assert.match(sig[1]!, /s=portcullis/);
  assert.match(sig[1]!, /c=relaxed\/relaxed/);
  assert.match(sig[1]!, /a=rsa-sha256/);

  const delivered = await until("queue.delivered", () => events("queue.delivered").find((e) => e.domain === "routed.test"));
  assert.equal(delivered.tls, null, "smtp-sink offers no STARTTLS: plain text is the only way");
  assert.match(String(delivered.reply), /^250 /);
  await until("the queue to empty", async () => (await srv.services.store.listQueue()).every((m) => m.domain !== "routed.test"));

  // The record an operator would publish, from `portcullis dns`, verifies the signature.
  const r = await runCli(["dns", "--domain", "example.test", "--config", join(srv.dataDir, "portcullis.toml")]);
  assert.equal(r.code, 0, r.stderr);
  const line = r.stdout.split("\n").find((l) => l.startsWith("portcullis._domainkey.example.test."));
  assert.ok(line, r.stdout);
  const txt = [...line.matchAll(/"([^"]*)"/g)].map((m) => m[1]).join("");
  assert.match(txt, /^v=DKIM1; k=rsa; p=[A-Za-z0-9+/=]+$/);
  const verdict = await pythonDkimVerify(sinkToWire(dump!), "portcullis._domainkey.example.test", txt);
  assert.ok(verdict.ok, verdict.out);
  // And a wrong key does not verify (the verifier really checks).
  const otherKey = generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey.export({ type: "spki", format: "der" }).toString("base64");
  const other = `v=DKIM1; k=rsa; p=${otherKey}`;
  assert.equal((await pythonDkimVerify(sinkToWire(dump!), "portcullis._domainkey.example.test", other)).ok, false);
});

test("MX lookup through the configured DNS server: preference order, a dead MX is skipped", async () => {
  await submit(srv, ALICE, ALICE_PW, { to: "max@mx-dest.test", subject: "Via MX", text: "found through DNS\n" });
  await until("queue.delivered", () => events("queue.delivered").find((e) => e.domain === "mx-dest.test"));
  const [dump] = await mxSink.messages();
  assert.match(dump!, /^X-Rcpt-Args: <max@mx-dest\.test>/m);
  assert.match(dump!, /^Subject: Via MX$/m);
  assert.ok(dns.queries.includes("MX mx-dest.test"), dns.queries.join(", "));
  const attempts = events("queue.attempt").filter((e) => e.domain === "mx-dest.test");
  assert.equal(attempts[0]?.host, "mx1.mx-dest.test", "preference 10 first");
  assert.ok(attempts.some((e) => e.host === "mx2.mx-dest.test" && e.address === mxAddress && e.port === 25));
  const delivered = await until("queue.delivered", () => events("queue.delivered").find((e) => e.domain === "mx-dest.test"));
  assert.match(String(delivered.remote), /^mx2\.mx-dest\.test\[/);
});

test("5xx from the destination: the recipient fails at once and a DSN arrives in the sender's INBOX", async () => {
  const before = (await inboxOf(srv, ALICE)).length;
  await submit(srv, ALICE, ALICE_PW, { to: "nobody@refused.test", subject: "Will bounce", text: "no one home\n" });
  const dsn = await until("the DSN in alice's INBOX", async () => {
    const inbox = await inboxOf(srv, ALICE);
    return inbox.length > before ? inbox[inbox.length - 1] : null;
  });
  // RFC 3464 / RFC 6522 structure.
  assert.match(dsn, /^Return-Path: <>\r$/m);
  assert.match(dsn, /^From: Mail Delivery System <MAILER-DAEMON@localhost>\r$/m);
  assert.match(dsn, /^Auto-Submitted: auto-replied\r$/m);
  const ct = /^Content-Type: multipart\/report; report-type=delivery-status; boundary="([^"]+)"\r$/m.exec(dsn);
  assert.ok(ct, dsn);
  const parts = dsn.split(`--${ct[1]}`);
  assert.equal(parts.length, 5, "preamble, three parts, epilogue");
  assert.match(parts[1]!, /^\r\nContent-Type: text\/plain/);
  assert.match(parts[1]!, /<nobody@refused\.test>: host 127\.0\.0\.1 said: 5\d\d /);
  assert.match(parts[2]!, /^\r\nContent-Type: message\/delivery-status/);
  assert.match(parts[2]!, /^Reporting-MTA: dns; localhost\r$/m);
  assert.match(parts[2]!, /^Arrival-Date: \w{3}, \d\d \w{3} \d{4} /m);
  assert.match(parts[2]!, /^Final-Recipient: rfc822; nobody@refused\.test\r$/m);
  assert.match(parts[2]!, /^Action: failed\r$/m);
  assert.match(parts[2]!, /^Status: 5\.\d+\.\d+\r$/m);
  assert.match(parts[2]!, /^Diagnostic-Code: smtp; 5\d\d /m);
  assert.match(parts[2]!, /^Remote-MTA: dns; 127\.0\.0\.1\r$/m);
  assert.match(parts[3]!, /^\r\nContent-Type: text\/rfc822-headers/);
  assert.match(parts[3]!, /^Subject: Will bounce\r$/m);
  assert.doesNotMatch(parts[3]!, /no one home/, "headers only, not the body");
  assert.equal(parts[4], "--\r\n");
  await until("the queue to empty", async () => (await srv.services.store.listQueue()).every((m) => m.domain !== "refused.test"));
  const failed = events("queue.failed").find((e) => e.domain === "refused.test");
  assert.ok(failed);
  assert.ok(events("queue.dsn").some((e) => e.kind === "failure" && e.to === ALICE && e.local === true));
  assert.equal((await refusing.messages()).length, 0);
});

test("null MX (RFC 7505): the message fails at once with 5.1.10, without any connection", async () => {
  const before = (await inboxOf(srv, ALICE)).length;
  await submit(srv, ALICE, ALICE_PW, { to: "x@nullmx.test", subject: "To a null MX", text: "nope\n" });
  const dsn = await until("the DSN", async () => {
    const inbox = await inboxOf(srv, ALICE);
    return inbox.length > before ? inbox[inbox.length - 1] : null;
  });
  assert.match(dsn, /^Final-Recipient: rfc822; x@nullmx\.test\r$/m);
  assert.match(dsn, /^Status: 5\.1\.10\r$/m);
  assert.ok(!events("queue.attempt").some((e) => e.domain === "nullmx.test"), "no connection attempt");
});
