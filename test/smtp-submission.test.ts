// End to end, submission (issue 4): AUTH only after TLS and required before MAIL; sender binding
// on the envelope and the From: header; local recipients delivered, remote ones queued one entry
// per domain; per-account send limits. Clients: Python's smtplib, nodemailer, swaks, and a raw
// client where the bytes matter.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import nodemailer from "nodemailer";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { RawSmtp, run, python, inbox, eventsNamed, message } from "./fixtures/smtp-client.js";

const ALICE = "alice@example.test";
const ALICE_PW = "alice-pass-4e9f2c1b";
const BOB = "bob@example.test";
const BOB_PW = "bob-pass-7d1a6b3e";
let srv: TestServer;

before(async () => {
  // The outbound queue runner starts with the server. These tests look at what submission queued,
  // so remote domains are routed to a closed loopback port: each attempt is deferred and the
  // entries stay in the queue to be inspected.
  const closedPort = "127.0.0.1:9";
  srv = await startTestServer({
    config: {
      smtp: { received_header_auth_user: true },
      outbound: { routes: { "far.example": closedPort, "other.example": closedPort, "bank.example": closedPort } },
    },
  });
  await srv.addUser(ALICE, ALICE_PW);
  await srv.addUser(BOB, BOB_PW);
  await srv.services.store.addAlias("sales@example.test", [ALICE, BOB]);
  await srv.services.store.addAlias("bobs-alias@example.test", [BOB]);
});
after(async () => {
  await srv.stop();
});

async function authed(port = srv.ports.submission, user = ALICE, pw = ALICE_PW): Promise<RawSmtp> {
  const c = await RawSmtp.connect(port);
  await c.hello();
  assert.equal((await c.starttls(srv.caCert)).code, 220);
  await c.cmd("EHLO client.test");
  const r = await c.authPlain(user, pw);
  assert.equal(r.code, 235, r.lines.join(" | "));
  return c;
}

test("AUTH is not offered before STARTTLS, is refused there, and MAIL needs AUTH", async () => {
  const c = await RawSmtp.connect(srv.ports.submission);
  const ehlo = await c.hello();
  assert.ok(ehlo.lines.some((l) => l.endsWith("STARTTLS")));
  assert.ok(!ehlo.text.includes("AUTH"), ehlo.text);
  const a = await c.authPlain(ALICE, ALICE_PW);
  assert.equal(a.code, 530);
  assert.equal((await c.cmd("MAIL FROM:<alice@example.test>")).code, 530);
  await c.starttls(srv.caCert);
  const ehlo2 = await c.cmd("EHLO client.test");
  assert.match(ehlo2.text, /^AUTH .*PLAIN/m);
  assert.equal((await c.cmd("MAIL FROM:<alice@example.test>")).code, 530, "still no MAIL before AUTH after TLS");
  const bad = await c.authPlain(ALICE, "wrong password");
  assert.equal(bad.code, 535);
  assert.match(bad.text, /^5\.7\.8 /);
  assert.equal((await c.authPlain(ALICE, ALICE_PW)).code, 235);
  assert.equal((await c.authPlain(ALICE, ALICE_PW)).code, 503, "AUTH only once");
  await c.cmd("QUIT");
});

test("AUTH exchange: 334 challenge, '*' cancels with 501 5.7.0", async () => {
  const c = await RawSmtp.connect(srv.ports.submission);
  await c.hello();
  await c.starttls(srv.caCert);
  await c.cmd("EHLO client.test");
  const r = await c.cmd("AUTH PLAIN");
  assert.equal(r.code, 334);
  const cancel = await c.cmd("*");
  assert.equal(cancel.code, 501);
  assert.match(cancel.text, /^5\.7\.0 /);
  assert.equal((await c.cmd("AUTH LOGIN")).code, 334);
  assert.equal((await c.cmd(Buffer.from(ALICE).toString("base64"))).code, 334);
  assert.equal((await c.cmd(Buffer.from(ALICE_PW).toString("base64"))).code, 235);
  await c.cmd("QUIT");
});

test("smtplib on 587: STARTTLS + login, local recipient delivered, remote ones queued per domain", async () => {
  const r = await python(
    `
import smtplib, ssl, os
ctx = ssl.create_default_context(cafile=os.environ["CA"])
ctx.check_hostname = False
with smtplib.SMTP("127.0.0.1", int(os.environ["PORT"])) as s:
    s.ehlo("py.client.test")
    assert not s.has_extn("auth"), "AUTH before TLS"
    s.starttls(context=ctx)
    s.ehlo("py.client.test")
    s.login(os.environ["USER"], os.environ["PASS"])
    msg = "From: Alice <alice@example.test>\\r\\nTo: several\\r\\nSubject: from smtplib\\r\\n\\r\\nhi all\\r\\n"
    refused = s.sendmail("alice@example.test", ["bob@example.test", "x@far.example", "y@far.example", "z@other.example"], msg)
    print("refused", refused)
`,
    { PORT: String(srv.ports.submission), CA: srv.certFile, USER: ALICE, PASS: ALICE_PW },
  );
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /refused \{\}/);
  const m = (await inbox(srv, BOB)).find((x) => x.includes("Subject: from smtplib"));
  assert.ok(m, "bob got it");
  assert.match(m, /^Return-Path: <alice@example\.test>\r\nReceived: from py\.client\.test \(\[127\.0\.0\.1\]\)\r\n\tby localhost with ESMTPSA id /);
  assert.match(m, /\(using TLSv1\.[23] with cipher [A-Z0-9_-]+\)/);
  assert.match(m, /\(authenticated user alice@example\.test\)/, "received_header_auth_user = true");
  const queue = (await srv.services.store.listQueue()).filter((q) => q.sender === ALICE);
  const far = queue.find((q) => q.domain === "far.example");
  const other = queue.find((q) => q.domain === "other.example");
  assert.ok(far && other, JSON.stringify(queue.map((q) => q.domain)));
  assert.deepEqual(far.recipients.map((x) => x.address).sort(), ["x@far.example", "y@far.example"]);
  assert.deepEqual(other.recipients.map((x) => x.address), ["z@other.example"]);
  const body = await new Promise<string>((resolve, reject) => {
    void srv.services.store.openQueuedBody(far.id).then((s) => {
      const parts: Buffer[] = [];
      s.on("data", (d: Buffer) => parts.push(d));
      s.on("end", () => resolve(Buffer.concat(parts).toString()));
      s.on("error", reject);
    }, reject);
  });
  assert.ok(body.startsWith("Received: from py.client.test"), "queued copy has Received: but no Return-Path:");
  assert.ok(body.includes("Subject: from smtplib"));
});

test("nodemailer on 465 (implicit TLS): sending as an owned alias works", async () => {
  const transport = nodemailer.createTransport({
    host: "127.0.0.1",
    port: srv.ports.submissions,
    secure: true,
    auth: { user: BOB, pass: BOB_PW },
    tls: { ca: srv.caCert, servername: "localhost" },
  });
  const info = await transport.sendMail({ from: "Bob's Alias <bobs-alias@example.test>", sender: BOB, to: ALICE, subject: "from an alias", text: "hi" });
  transport.close();
  assert.deepEqual(info.accepted, [ALICE]);
  assert.ok((await inbox(srv, ALICE)).some((m) => m.includes("Subject: from an alias")));
});

test("sender binding: someone else's envelope sender is 553 5.7.1 with an audit event", async () => {
  const c = await authed();
  for (const from of ["bob@example.test", "bobs-alias@example.test", "ceo@bank.example", "alice@example.test.evil", "BOB@EXAMPLE.TEST"]) {
    const r = await c.cmd(`MAIL FROM:<${from}>`);
    assert.equal(r.code, 553, from);
    assert.match(r.text, /^5\.7\.1 /);
  }
  assert.equal((await c.cmd("MAIL FROM:<>")).code, 553, "null sender");
  // Own address in other spellings, a shared alias and a plus address are fine.
  for (const from of ["Alice@Example.Test", "sales@example.test", "alice+lists@example.test"]) {
    assert.equal((await c.cmd(`MAIL FROM:<${from}>`)).code, 250, from);
    assert.equal((await c.cmd("RSET")).code, 250);
  }
  await c.cmd("QUIT");
  assert.ok(eventsNamed(srv, "smtp.sender.refused").some((e) => e.sender === "ceo@bank.example" && e.where === "envelope"));
});

test("sender binding: the From: header must be owned too (553 5.7.1 after DATA)", async () => {
  const cases: Array<[string, number]> = [
    ["Alice <alice@example.test>", 250],
    ['"Sales" <sales@example.test>', 250],
    ["Bob <bob@example.test>", 553],
    ['"alice@example.test" <ceo@bank.example>', 553],
    ["alice@example.test, ceo@bank.example", 553],
    ["<alice@example.test> ceo@bank.example", 553],
    ["Alice", 553],
  ];
  const c = await authed();
  for (const [from, want] of cases) {
    assert.equal((await c.cmd("MAIL FROM:<alice@example.test>")).code, 250);
    assert.equal((await c.cmd("RCPT TO:<bob@example.test>")).code, 250);
    assert.equal((await c.cmd("DATA")).code, 354);
    c.write(message({ from, to: BOB, subject: `from-header ${from}` }) + ".\r\n");
    const r = await c.reply();
    assert.equal(r.code, want, `${from}: ${r.lines.join(" | ")}`);
    if (want === 553) assert.match(r.text, /^5\.7\.1 /);
  }
  // Two From: fields, and none at all.
  for (const extra of [["From: ceo@bank.example"], null]) {
    await c.cmd("MAIL FROM:<alice@example.test>");
    await c.cmd("RCPT TO:<bob@example.test>");
    await c.cmd("DATA");
    const text = extra
      ? message({ from: ALICE, to: BOB, extraHeaders: extra })
      : "To: bob@example.test\r\nSubject: no from\r\n\r\nbody\r\n";
    c.write(text + ".\r\n");
    assert.equal((await c.reply()).code, 553);
  }
  await c.cmd("QUIT");
  const got = (await inbox(srv, BOB)).filter((m) => m.includes("Subject: from-header"));
  assert.equal(got.length, 2, "only the two owned From: addresses were delivered");
  assert.ok(eventsNamed(srv, "smtp.sender.refused").some((e) => e.where === "header"));
});

test("swaks: authenticated submission with a forged From: is refused", async () => {
  const r = await run("swaks", [
    "--server", "127.0.0.1", "--port", String(srv.ports.submission), "--tls",
    "--auth", "PLAIN", "--auth-user", ALICE, "--auth-password", ALICE_PW,
    "--from", ALICE, "--h-From", "President <president@bank.example>", "--to", BOB, "--timeout", "10",
  ]);
  assert.notEqual(r.code, 0);
  assert.match(r.stdout, /<~?\* +553 5\.7\.1 From: header refused/);
});

test("relay tricks are refused on submission too; a remote domain is fine once authenticated", async () => {
  const c = await authed();
  await c.cmd("MAIL FROM:<alice@example.test>");
  for (const trick of ["user%far.example@example.test", '"user@far.example"@example.test', "@example.test:user@far.example", "far.example!user@example.test", "user@far.example@example.test", "user@[127.0.0.1]", "user@far.example."]) {
    const r = await c.cmd(`RCPT TO:<${trick}>`);
    assert.equal(r.code, 550, trick);
  }
  assert.equal((await c.cmd("RCPT TO:<friend@far.example>")).code, 250);
  await c.cmd("QUIT");
});

test("AUTH SCRAM-SHA-256 (RFC 7677): server-final is a 334 answered by an empty line, then 235", async () => {
  const { createHash, createHmac, pbkdf2Sync, randomBytes } = await import("node:crypto");
  const c = await RawSmtp.connect(srv.ports.submission);
  await c.hello();
  await c.starttls(srv.caCert);
  const ehlo = await c.cmd("EHLO client.test");
  assert.match(ehlo.text, /^AUTH .*SCRAM-SHA-256/m);
  const cnonce = randomBytes(18).toString("base64");
  const bare = `n=${ALICE.replace(/=/g, "=3D").replace(/,/g, "=2C")},r=${cnonce}`;
  const first = await c.cmd(`AUTH SCRAM-SHA-256 ${Buffer.from(`n,,${bare}`).toString("base64")}`);
  assert.equal(first.code, 334, first.lines.join(" | "));
  const serverFirst = Buffer.from(first.text, "base64").toString();
  const attrs = Object.fromEntries(serverFirst.split(",").map((kv) => [kv[0], kv.slice(2)]));
  assert.ok(attrs.r!.startsWith(cnonce));
  const salted = pbkdf2Sync(ALICE_PW, Buffer.from(attrs.s!, "base64"), Number(attrs.i), 32, "sha256");
  const hmac = (key: Buffer, data: string) => createHmac("sha256", key).update(data).digest();
  const clientKey = hmac(salted, "Client Key");
  const storedKey = createHash("sha256").update(clientKey).digest();
  const withoutProof = `c=biws,r=${attrs.r}`;
  const authMessage = `${bare},${serverFirst},${withoutProof}`;
  const signature = hmac(storedKey, authMessage);
  const proof = Buffer.from(clientKey.map((b, i) => b ^ signature[i]!));
  const final = await c.cmd(Buffer.from(`${withoutProof},p=${proof.toString("base64")}`).toString("base64"));
  assert.equal(final.code, 334, final.lines.join(" | "));
  const serverFinal = Buffer.from(final.text, "base64").toString();
  assert.equal(serverFinal, `v=${hmac(hmac(salted, "Server Key"), authMessage).toString("base64")}`, "the server proved it knows the verifier");
  const ok = await c.cmd("");
  assert.equal(ok.code, 235);
  assert.equal((await c.cmd("MAIL FROM:<alice@example.test>")).code, 250);
  await c.cmd("QUIT");
});
