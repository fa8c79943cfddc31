// End to end, the limits of issue 4: message size while streaming (RFC 1870), recipients per
// transaction, per-account send limits on submission, over-long command lines (with another
// client served meanwhile), idle timeouts and shutdown.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import nodemailer from "nodemailer";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { RawSmtp, python, inbox, eventsNamed, message } from "./fixtures/smtp-client.js";

const ALICE = "alice@example.test";
const ALICE_PW = "alice-pass-4e9f2c1b";
const BOB = "bob@example.test";
const MAX_SIZE = 64 * 1024;
let srv: TestServer;

before(async () => {
  srv = await startTestServer({
    config: {
      limits: { max_message_size: MAX_SIZE, preauth_timeout: "2s" },
      smtp: { max_recipients: 3, max_messages_per_hour: 2, max_recipients_per_day: 4 },
    },
  });
  await srv.addUser(ALICE, ALICE_PW);
  await srv.addUser(BOB, "bob-pass-7d1a6b3e");
  await srv.addUser("carol@example.test", "carol-pass-9a8b7c6d");
  await srv.addUser("dave@example.test", "dave-pass-1a2b3c4d");
});
after(async () => {
  await srv.stop();
});

async function mx(): Promise<RawSmtp> {
  const c = await RawSmtp.connect(srv.ports.smtp);
  await c.hello();
  return c;
}

test("EHLO advertises the configured SIZE; a larger SIZE= is refused at MAIL (552 5.3.4)", async () => {
  const c = await mx();
  const ehlo = await c.cmd("EHLO client.test");
  assert.ok(ehlo.lines.some((l) => l.slice(4) === `SIZE ${MAX_SIZE}`));
  const r = await c.cmd(`MAIL FROM:<s@other.example> SIZE=${MAX_SIZE + 1}`);
  assert.equal(r.code, 552);
  assert.match(r.text, /^5\.3\.4 /);
  assert.equal((await c.cmd(`MAIL FROM:<s@other.example> SIZE=${MAX_SIZE}`)).code, 250);
  await c.cmd("QUIT");
});

test("SIZE is enforced while streaming: 552 5.3.4 after the end of data, nothing stored, session usable", async () => {
  const before = (await inbox(srv, ALICE)).length;
  const c = await mx();
  await c.cmd("MAIL FROM:<s@other.example>");
  await c.cmd(`RCPT TO:<${ALICE}>`);
  assert.equal((await c.cmd("DATA")).code, 354);
  // 20 times the limit, written in pieces; the server keeps reading to the terminator.
  const line = "x".repeat(998) + "\r\n";
  c.write("Subject: too big\r\n\r\n");
  for (let i = 0; i < 20; i++) c.write(line.repeat(64));
  c.write(".\r\n");
  const r = await c.reply(30_000);
  assert.equal(r.code, 552);
  assert.match(r.text, /^5\.3\.4 /);
  assert.equal((await c.cmd("NOOP")).code, 250, "the session continues");
  await c.cmd("QUIT");
  assert.equal((await inbox(srv, ALICE)).length, before);
});

test("nodemailer: a message over the limit is refused, one under it delivered", async () => {
  const transport = nodemailer.createTransport({ host: "127.0.0.1", port: srv.ports.smtp, secure: false, ignoreTLS: true });
  await assert.rejects(
    transport.sendMail({ from: "s@other.example", to: ALICE, subject: "nm too big", text: "y".repeat(MAX_SIZE * 2) }),
    (e: Error & { responseCode?: number }) => e.responseCode === 552,
  );
  const ok = await transport.sendMail({ from: "s@other.example", to: ALICE, subject: "nm fits", text: "y".repeat(MAX_SIZE / 2) });
  transport.close();
  assert.deepEqual(ok.accepted, [ALICE]);
});

test("BDAT: the size limit counts all chunks (552 5.3.4), a single chunk over it closes the connection", async () => {
  const c = await mx();
  await c.cmd("MAIL FROM:<s@other.example>");
  await c.cmd(`RCPT TO:<${ALICE}>`);
  const half = "z".repeat(MAX_SIZE / 2 + 10);
  c.write(`BDAT ${half.length}\r\n${half}`);
  assert.equal((await c.reply()).code, 250);
  c.write(`BDAT ${half.length}\r\n${half}`);
  const r = await c.reply();
  assert.equal(r.code, 552);
  c.write("BDAT 5 LAST\r\nhello");
  assert.equal((await c.reply()).code, 503, "the transaction is over; the chunk was consumed");
  assert.equal((await c.cmd("NOOP")).code, 250);
  c.write(`BDAT ${MAX_SIZE + 1}\r\n`);
  assert.equal((await c.reply()).code, 552);
  await c.closed();
});

test("recipients per transaction: the one past smtp.max_recipients gets 452 4.5.3", async () => {
  const c = await mx();
  await c.cmd("MAIL FROM:<s@other.example>");
  for (const r of [ALICE, BOB, "carol@example.test"]) assert.equal((await c.cmd(`RCPT TO:<${r}>`)).code, 250);
  const r = await c.cmd("RCPT TO:<dave@example.test>");
  assert.equal(r.code, 452);
  assert.match(r.text, /^4\.5\.3 /);
  await c.cmd("DATA");
  c.write(message({ from: "s@other.example", to: "many", subject: "three of four" }) + ".\r\n");
  assert.equal((await c.reply()).code, 250);
  await c.cmd("QUIT");
  assert.ok(!(await inbox(srv, "dave@example.test")).some((m) => m.includes("three of four")));
});

test("send limits: messages per hour and distinct recipients per day, with smtp.sendlimit events", async () => {
  // smtplib, authenticated as alice: 2 messages per hour allowed, the third is 451 4.7.1.
  const r = await python(
    `
import smtplib, ssl, os, json
ctx = ssl.create_default_context(cafile=os.environ["CA"])
ctx.check_hostname = False
out = []
with smtplib.SMTP("127.0.0.1", int(os.environ["PORT"])) as s:
    s.starttls(context=ctx)
    s.login(os.environ["USER"], os.environ["PASS"])
    msg = "From: alice@example.test\\r\\nSubject: limited\\r\\n\\r\\nx\\r\\n"
    # Message 1: 3 distinct recipients. Message 2: 1 more (4 = the daily limit) and a repeat.
    s.sendmail("alice@example.test", ["bob@example.test", "carol@example.test", "x@far.example"], msg)
    s.sendmail("alice@example.test", ["dave@example.test", "bob@example.test"], msg)
    try:
        s.sendmail("alice@example.test", ["bob@example.test"], msg)
        out.append("third accepted")
    except smtplib.SMTPSenderRefused as e:
        out.append([e.smtp_code, e.smtp_error.decode()])
print(json.dumps(out))
`,
    { PORT: String(srv.ports.submission), CA: srv.certFile, USER: ALICE, PASS: ALICE_PW },
  );
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as Array<[number, string]>;
  assert.equal(out[0]![0], 451);
  assert.match(out[0]![1], /^4\.7\.1 /);
  const hits = eventsNamed(srv, "smtp.sendlimit");
  assert.ok(hits.some((e) => e.account === ALICE && e.limit === "max_messages_per_hour"));
});

test("send limits: a fifth distinct recipient in a day is refused at RCPT", async () => {
  await srv.addUser("erin@example.test", "erin-pass-5e6f7a8b");
  const c = await RawSmtp.connect(srv.ports.submission);
  await c.hello();
  await c.starttls(srv.caCert);
  await c.cmd("EHLO client.test");
  assert.equal((await c.authPlain("erin@example.test", "erin-pass-5e6f7a8b")).code, 235);
  await c.cmd("MAIL FROM:<erin@example.test>");
  for (const rcpt of ["a@far.example", "b@far.example", "c@far.example"]) assert.equal((await c.cmd(`RCPT TO:<${rcpt}>`)).code, 250);
  await c.cmd("DATA");
  c.write(message({ from: "erin@example.test", to: "far", subject: "first" }) + ".\r\n");
  assert.equal((await c.reply()).code, 250);
  await c.cmd("MAIL FROM:<erin@example.test>");
  assert.equal((await c.cmd("RCPT TO:<a@far.example>")).code, 250, "a repeat recipient does not count again");
  assert.equal((await c.cmd("RCPT TO:<d@far.example>")).code, 250, "the fourth distinct recipient");
  const r = await c.cmd("RCPT TO:<e@far.example>");
  assert.equal(r.code, 451);
  assert.match(r.text, /^4\.7\.1 /);
  await c.cmd("QUIT");
  assert.ok(eventsNamed(srv, "smtp.sendlimit").some((e) => e.account === "erin@example.test" && e.limit === "max_recipients_per_day"));
});

test("an over-long command line is refused (500 5.5.2) and closed while another client is served", async () => {
  const other = await mx();
  await other.cmd("MAIL FROM:<s@other.example>");
  const attacker = await mx();
  // 5000 octets: over RFC 5321's 512, under the reader's hard cap.
  attacker.write(`MAIL FROM:<${"a".repeat(5000)}@other.example>\r\n`);
  const r1 = await attacker.reply();
  assert.equal(r1.code, 500);
  assert.match(r1.text, /^5\.5\.2 /);
  await attacker.closed();
  // Far over every cap, without a line end: refused as soon as the cap is passed.
  const flood = await mx();
  flood.write("NOOP " + "b".repeat(200_000));
  const r2 = await flood.reply();
  assert.equal(r2.code, 500);
  await flood.closed();
  // Meanwhile the other session goes on.
  assert.equal((await other.cmd(`RCPT TO:<${ALICE}>`)).code, 250);
  await other.cmd("DATA");
  other.write(message({ from: "s@other.example", to: ALICE, subject: "served meanwhile" }) + ".\r\n");
  assert.equal((await other.reply()).code, 250);
  await other.cmd("QUIT");
});

test("an idle client is disconnected with 421 4.4.2", async () => {
  const c = await mx();
  const r = await c.reply(10_000);
  assert.equal(r.code, 421);
  assert.match(r.text, /^4\.4\.2 /);
  await c.closed();
});

test("shutdown: a session waiting for a command is told 421 4.3.2 and closed", async () => {
  const own = await startTestServer();
  const c = await RawSmtp.connect(own.ports.smtp);
  await c.hello();
  const stopping = own.stop();
  const r = await c.reply();
  assert.equal(r.code, 421);
  assert.match(r.text, /^4\.3\.2 /);
  await c.closed();
  await stopping;
});
