// End to end, message transfer (issue 4): strict DATA framing against SMTP smuggling, dot
// unstuffing, BDAT (RFC 3030), pipelined transactions (RFC 2920), the hop limit, STARTTLS
// command injection, and Received:/Return-Path: on what is stored.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { RawSmtp, run, inbox, eventsNamed, message } from "./fixtures/smtp-client.js";

const ALICE = "alice@example.test";
let srv: TestServer;

before(async () => {
  srv = await startTestServer();
  await srv.addUser(ALICE, "alice-pass-4e9f2c1b");
  await srv.addUser("bob@example.test", "bob-pass-7d1a6b3e");
});
after(async () => {
  await srv.stop();
});

async function mx(): Promise<RawSmtp> {
  const c = await RawSmtp.connect(srv.ports.smtp);
  const r = await c.hello();
  assert.equal(r.code, 250);
  return c;
}

async function subjects(address: string): Promise<string[]> {
  return (await inbox(srv, address)).map((m) => /\r\nSubject: ([^\r\n]*)/.exec(m)?.[1] ?? "");
}

test("dot-stuffing is undone and the body is stored byte for byte", async () => {
  const c = await mx();
  await c.cmd("MAIL FROM:<s@other.example>");
  await c.cmd(`RCPT TO:<${ALICE}>`);
  assert.equal((await c.cmd("DATA")).code, 354);
  c.write("Subject: dots\r\nFrom: s@other.example\r\n\r\n..leading dot\r\n...\r\n.x\r\nend\r\n.\r\n");
  assert.equal((await c.reply()).code, 250);
  await c.cmd("QUIT");
  const m = (await inbox(srv, ALICE)).find((x) => x.includes("Subject: dots"))!;
  assert.ok(m.endsWith("\r\n\r\n.leading dot\r\n..\r\nx\r\nend\r\n"), JSON.stringify(m.slice(-60)));
});

// SMTP smuggling (SEC Consult, 2023): an outbound server passes "\n.\r\n" or "\r.\r" through; a
// receiver that takes it as the end of DATA would run the rest as a second, forged transaction.
const SMUGGLING: Array<[string, string]> = [
  ["LF.CRLF", "\n.\r\n"],
  ["LF.LF", "\n.\n"],
  ["CRLF.LF", "\r\n.\n"],
  ["CR.CR", "\r.\r"],
  ["CR.CRLF", "\r.\r\n"],
  ["CRLF.CR", "\r\n.\r"],
];

for (const [name, eod] of SMUGGLING) {
  test(`bare-LF/CR smuggling (${name}) is refused with 550 5.6.11 and the smuggled message is not delivered`, async () => {
    const c = await mx();
    await c.cmd("MAIL FROM:<s@other.example>");
    await c.cmd(`RCPT TO:<${ALICE}>`);
    assert.equal((await c.cmd("DATA")).code, 354);
    const smuggled =
      `From: s@other.example\r\nSubject: carrier ${name}\r\n\r\nhello${eod}` +
      `MAIL FROM:<ceo@example.test>\r\nRCPT TO:<${ALICE}>\r\nDATA\r\nFrom: ceo@example.test\r\nSubject: smuggled ${name}\r\n\r\npay now\r\n.\r\n`;
    c.write(smuggled);
    const r = await c.reply();
    assert.equal(r.code, 550, r.lines.join(" | "));
    assert.match(r.text, /^5\.6\.11 .*bare/i);
    // The one reply covers everything up to the real CRLF.CRLF: the session is back at "ready".
    assert.equal((await c.cmd("NOOP")).code, 250);
    await c.cmd("QUIT");
    const subs = await subjects(ALICE);
    assert.ok(!subs.some((s) => s.includes(`smuggled ${name}`)), "the smuggled message was not delivered");
    assert.ok(!subs.some((s) => s.includes(`carrier ${name}`)), "the carrier was refused as a whole");
  });
}

test("a bare LF inside a line of text is refused too, and audited", async () => {
  const c = await mx();
  await c.cmd("MAIL FROM:<s@other.example>");
  await c.cmd(`RCPT TO:<${ALICE}>`);
  await c.cmd("DATA");
  c.write("Subject: bare lf\r\n\r\none\ntwo\r\n.\r\n");
  assert.equal((await c.reply()).code, 550);
  await c.cmd("QUIT");
  assert.ok(eventsNamed(srv, "smtp.protocol.abuse").some((e) => e.reason === "bare-line-ending"));
});

test("BDAT: chunks, BDAT 0 LAST, binary-safe counting, and DATA refused in a BDAT transaction", async () => {
  const c = await mx();
  await c.cmd("MAIL FROM:<s@other.example> BODY=8BITMIME");
  await c.cmd(`RCPT TO:<${ALICE}>`);
  const part1 = "From: s@other.example\r\nSubject: chunked ünïcode\r\n";
  const part2 = "\r\nline one\r\n.line with dot stays\r\n";
  c.write(`BDAT ${Buffer.byteLength(part1)}\r\n${part1}`);
  const r1 = await c.reply();
  assert.equal(r1.code, 250);
  assert.match(r1.text, /^2\.0\.0 \d+ octets received/);
  c.write(`BDAT ${Buffer.byteLength(part2)}\r\n${part2}`);
  assert.equal((await c.reply()).code, 250);
  assert.equal((await c.cmd("DATA")).code, 503, "no DATA inside a BDAT transaction (RFC 3030 §2)");
  const last = await c.cmd("BDAT 0 LAST");
  assert.equal(last.code, 250);
  assert.match(last.text, /queued as/);
  await c.cmd("QUIT");
  const m = (await inbox(srv, ALICE)).find((x) => x.includes("Subject: chunked"))!;
  assert.ok(m.endsWith("\r\nSubject: chunked ünïcode\r\n\r\nline one\r\n.line with dot stays\r\n"));
});

test("BDAT: a chunk boundary between CR and LF is fine; a bare CR across chunks is refused", async () => {
  const c = await mx();
  await c.cmd("MAIL FROM:<s@other.example>");
  await c.cmd(`RCPT TO:<${ALICE}>`);
  const chunk = (data: string, last = false) => `BDAT ${Buffer.byteLength(data)}${last ? " LAST" : ""}\r\n${data}`;
  c.write(chunk("Subject: split crlf\r"));
  assert.equal((await c.reply()).code, 250);
  c.write(chunk("\n\r\nbody\r\n", true));
  assert.equal((await c.reply()).code, 250);
  await c.cmd("MAIL FROM:<s@other.example>");
  await c.cmd(`RCPT TO:<${ALICE}>`);
  c.write(chunk("Subject: bare\r"));
  assert.equal((await c.reply()).code, 250);
  c.write(chunk("\r\nbody\r\n", true));
  const r = await c.reply();
  assert.equal(r.code, 550);
  assert.match(r.text, /^5\.6\.11 /);
  await c.cmd("QUIT");
  const subs = await subjects(ALICE);
  assert.ok(subs.includes("split crlf"));
  assert.ok(!subs.includes("bare"));
});

test("BDAT without a transaction: the chunk is consumed and refused, the session stays in step", async () => {
  const c = await mx();
  c.write("BDAT 12\r\nRSET\r\nQUIT\r\n");
  const r = await c.reply();
  assert.equal(r.code, 503);
  assert.equal((await c.cmd("NOOP")).code, 250, "the chunk's 'RSET QUIT' were data, not commands");
  await c.cmd("MAIL FROM:<s@other.example>");
  await c.cmd("RCPT TO:<nobody@example.test>");
  c.write("BDAT 5 LAST\r\nhello");
  assert.equal((await c.reply()).code, 554, "no valid recipients");
  assert.equal((await c.cmd("NOOP")).code, 250);
  await c.cmd("QUIT");
});

test("pipelining (RFC 2920): two transactions in one write, replies in order", async () => {
  const c = await mx();
  const m1 = message({ from: "s@other.example", to: ALICE, subject: "pipelined one" });
  const m2 = message({ from: "s@other.example", to: "bob@example.test", subject: "pipelined two" });
  c.write(
    `MAIL FROM:<s@other.example>\r\nRCPT TO:<${ALICE}>\r\nRCPT TO:<nobody@example.test>\r\nDATA\r\n${m1}.\r\n` +
      `RSET\r\nMAIL FROM:<s@other.example>\r\nRCPT TO:<bob@example.test>\r\nBDAT ${Buffer.byteLength(m2)} LAST\r\n${m2}` +
      `MAIL FROM:<s@other.example>\r\nRCPT TO:<nobody@example.test>\r\nDATA\r\nNOOP\r\nQUIT\r\n`,
  );
  const codes: number[] = [];
  for (let i = 0; i < 13; i++) codes.push((await c.reply()).code);
  assert.deepEqual(codes, [250, 250, 550, 354, 250, 250, 250, 250, 250, 250, 550, 554, 250]);
  assert.equal((await c.reply()).code, 221);
  await c.closed();
  assert.ok((await subjects(ALICE)).includes("pipelined one"));
  assert.ok((await subjects("bob@example.test")).includes("pipelined two"));
});

test("swaks --pipeline delivers", async () => {
  const r = await run("swaks", ["--server", "127.0.0.1", "--port", String(srv.ports.smtp), "--pipeline", "--from", "s@other.example", "--to", ALICE, "--h-Subject", "swaks pipelined", "--timeout", "10"]);
  assert.equal(r.code, 0, r.stdout);
  assert.ok((await subjects(ALICE)).includes("swaks pipelined"));
});

test("mail loops: more than max_received_headers Received: fields is 554 5.4.6", async () => {
  const max = srv.config.smtp.max_received_headers;
  const hops = (n: number) => Array.from({ length: n }, (_, i) => `Received: from hop${i}.example by hop${i + 1}.example; Sun, 22 Nov 2026 00:00:00 +0000`);
  const c = await mx();
  for (const [n, want] of [[max, 250], [max + 1, 554]] as const) {
    await c.cmd("MAIL FROM:<s@other.example>");
    await c.cmd(`RCPT TO:<${ALICE}>`);
    await c.cmd("DATA");
    c.write(hops(n).join("\r\n") + "\r\n" + message({ from: "s@other.example", to: ALICE, subject: `hops ${n}` }) + ".\r\n");
    const r = await c.reply();
    assert.equal(r.code, want, `${n} hops`);
    if (want === 554) assert.match(r.text, /^5\.4\.6 /);
  }
  await c.cmd("QUIT");
});

test("STARTTLS command injection: commands pipelined behind STARTTLS are refused, not run", async () => {
  const c = await RawSmtp.connect(srv.ports.smtp);
  await c.hello();
  c.write(`STARTTLS\r\nMAIL FROM:<s@other.example>\r\nRCPT TO:<${ALICE}>\r\n`);
  const r = await c.reply();
  assert.equal(r.code, 554);
  await c.closed();
  assert.ok(eventsNamed(srv, "smtp.protocol.abuse").some((e) => e.reason === "starttls-pipelining"));
});

test("after STARTTLS the session starts over: EHLO is needed again", async () => {
  const c = await RawSmtp.connect(srv.ports.smtp);
  await c.hello();
  await c.starttls(srv.caCert);
  const r = await c.cmd("MAIL FROM:<s@other.example>");
  assert.equal(r.code, 503, "RFC 3207 §4.2: EHLO forgotten");
  assert.equal((await c.cmd("EHLO again.test")).code, 250);
  await c.cmd("MAIL FROM:<s@other.example>");
  await c.cmd(`RCPT TO:<${ALICE}>`);
  await c.cmd("DATA");
  c.write(message({ from: "s@other.example", to: ALICE, subject: "over tls" }) + ".\r\n");
  assert.equal((await c.reply()).code, 250);
  await c.cmd("QUIT");
  const m = (await inbox(srv, ALICE)).find((x) => x.includes("Subject: over tls"))!;
  assert.match(m, /Received: from again\.test \(\[127\.0\.0\.1\]\)\r\n\tby localhost with ESMTPS id \w+\r\n\t\(using TLSv1\.3 with cipher TLS_\w+\)\r\n\tfor <alice@example\.test>;/);
});

test("every reply after the greeting carries an enhanced status code (RFC 2034)", async () => {
  const c = await mx();
  const replies = [
    await c.cmd("NOOP"),
    await c.cmd("HELP"),
    await c.cmd("VRFY x"),
    await c.cmd("EXPN x"),
    await c.cmd("RCPT TO:<a@b>"),
    await c.cmd("MAIL FROM:<s@other.example>"),
    await c.cmd("MAIL FROM:<s@other.example>"),
    await c.cmd(`RCPT TO:<${ALICE}>`),
    await c.cmd("RSET"),
    await c.cmd("BOGUS"),
    await c.cmd("MAIL FROM:<a b>"),
    await c.cmd("QUIT"),
  ];
  for (const r of replies) for (const l of r.lines) assert.match(l, /^\d{3}[ -][245]\.\d{1,3}\.\d{1,3} /, l);
});

test("Postfix smtp-source: 200 messages over 5 reused sessions all land, intact", async () => {
  await srv.addUser("load@example.test", "load-pass-3c2b1a0f");
  const r = await run("smtp-source", ["-d", "-s", "5", "-m", "200", "-l", "20000", "-f", "load@other.example", "-t", "load@example.test", "-M", "localhost", `127.0.0.1:${srv.ports.smtp}`], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const msgs = await inbox(srv, "load@example.test");
  assert.equal(msgs.length, 200);
  for (const m of msgs) {
    assert.ok(m.startsWith("Return-Path: <load@other.example>\r\nReceived: from "));
    assert.ok(!/[^\r]\n/.test(m));
  }
});
