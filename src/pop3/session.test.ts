// The POP3 session against fake connection, store and auth: state rules, every command's
// replies, the maildrop lock, UPDATE semantics, limits, timeouts and shutdown.

import { test } from "node:test";
import assert from "node:assert/strict";
import { InputError } from "../net/types.js";
import { COMMANDS } from "./commands/index.js";
import { createPop3Handler } from "./index.js";
import { FakeConnection, pop3Fixture, type Pop3Fixture } from "../../test/fixtures/pop3-fakes.js";

const MSG1 = "From: a@example.test\r\nSubject: one\r\n\r\nHello\r\n.dotted\r\nbye\r\n";
const MSG2 = "From: b@example.test\r\nSubject: two\r\n\r\nline 1\r\nline 2\r\nline 3\r\n";

function setup(o: { tls?: "starttls" | "implicit" } = {}) {
  const fx = pop3Fixture();
  fx.store.append("alice@example.test", MSG1);
  fx.store.append("alice@example.test", MSG2);
  const conn = new FakeConnection({ tls: o.tls ?? "implicit", log: fx.services.log });
  return { fx, conn };
}

function serve(fx: Pop3Fixture, conn: FakeConnection): Promise<void> {
  return createPop3Handler(fx.services).serve(conn);
}

/** Runs a whole scripted session (the client pipelines everything, then closes). */
async function transcript(lines: string[], o: { tls?: "starttls" | "implicit"; eof?: boolean } = {}) {
  const { fx, conn } = setup(o);
  conn.feed(lines.map((l) => l + "\r\n").join(""));
  if (o.eof !== false) conn.endInput();
  await serve(fx, conn);
  return { fx, conn, out: conn.output(), replies: conn.output().split("\r\n") };
}

const LOGIN = ["USER alice@example.test", "PASS alice pw"];

test("greeting has no APOP timestamp and APOP is not a command", async () => {
  const { out } = await transcript(["APOP alice 0123456789abcdef0123456789abcdef", "QUIT"]);
  assert.ok(out.startsWith("+OK Portcullis POP3 ready\r\n"));
  assert.doesNotMatch(out.split("\r\n")[0]!, /</);
  assert.match(out, /\r\n-ERR unknown command\r\n\+OK Portcullis POP3 signing off\r\n$/);
  assert.equal(COMMANDS.has("APOP"), false);
});

test("state rules: each command only in its states, checked centrally", async () => {
  const transactionOnly = ["STAT", "LIST", "RETR 1", "DELE 1", "RSET", "TOP 1 0", "UIDL"];
  const { replies } = await transcript([...transactionOnly, "QUIT"]);
  for (let i = 0; i < transactionOnly.length; i++) {
    assert.match(replies[1 + i]!, new RegExp(`^-ERR ${transactionOnly[i]!.split(" ")[0]} not allowed in AUTHORIZATION state$`));
  }
  const authOnly = ["USER x", "PASS y", "AUTH PLAIN", "STLS"];
  const r2 = await transcript([...LOGIN, ...authOnly, "QUIT"]);
  const after = r2.replies.slice(3);
  for (let i = 0; i < authOnly.length; i++) assert.match(after[i]!, new RegExp(`^-ERR ${authOnly[i]!.split(" ")[0]} not allowed in TRANSACTION state$`));
  for (const c of COMMANDS.values()) assert.ok(!c.states.includes("update"), `${c.name} must not run in UPDATE`);
});

test("CAPA before TLS on a starttls listener: STLS, no USER, no SASL", async () => {
  const { out } = await transcript(["CAPA", "QUIT"], { tls: "starttls" });
  const caps = out.split("\r\n").slice(2, out.split("\r\n").indexOf("."));
  assert.deepEqual(caps, ["STLS", "TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "EXPIRE NEVER", "IMPLEMENTATION Portcullis"]);
});

test("CAPA over TLS: USER and SASL, no STLS; after login no auth capabilities", async () => {
  const { out } = await transcript(["CAPA", ...LOGIN, "CAPA", "QUIT"]);
  const blocks = out.split("\r\n.\r\n");
  assert.match(blocks[0]!, /\+OK capability list follows\r\nUSER\r\nSASL SCRAM-SHA-256 PLAIN\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\nEXPIRE NEVER\r\nIMPLEMENTATION Portcullis$/);
  assert.doesNotMatch(blocks[0]!, /STLS/);
  assert.doesNotMatch(blocks[1]!, /USER|SASL|STLS/);
  assert.match(blocks[1]!, /TOP\r\nUIDL/);
});

test("a loopback listener with allow_insecure_auth: STLS still offered, and login allowed without TLS", async () => {
  const { fx, conn } = setup({ tls: "starttls" });
  conn.passwordAuthAllowed = true;
  conn.feed(["CAPA", ...LOGIN, "QUIT"].map((l) => l + "\r\n").join(""));
  conn.endInput();
  await serve(fx, conn);
  assert.match(conn.output(), /\+OK capability list follows\r\nSTLS\r\nUSER\r\nSASL SCRAM-SHA-256 PLAIN\r\n/);
  assert.match(conn.output(), /\+OK maildrop has 2 messages/);
});

test("before TLS USER, PASS and AUTH are refused without reaching the auth service", async () => {
  const { out, fx } = await transcript(["USER alice@example.test", "PASS alice pw", "AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABhbGljZSBwdw==", "NOOP", "QUIT"], { tls: "starttls" });
  const lines = out.split("\r\n");
  for (const i of [1, 2, 3]) assert.equal(lines[i], "-ERR [AUTH] plaintext authentication disallowed: use STLS or port 995");
  assert.equal(lines[4], "+OK");
  assert.equal(fx.auth.calls.length, 0);
});

test("STLS upgrades, resets to AUTHORIZATION, then login works; STLS twice is refused", async () => {
  const { fx, conn } = setup({ tls: "starttls" });
  const done = serve(fx, conn);
  conn.feed("STLS\r\n");
  await conn.waitFor(/\+OK begin TLS negotiation\r\n/);
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(conn.secure, true);
  conn.feed("STLS\r\nCAPA\r\nUSER alice@example.test\r\nPASS alice pw\r\nQUIT\r\n");
  await done;
  const out = conn.output();
  assert.match(out, /-ERR command not permitted when TLS active\r\n/);
  assert.match(out, /\+OK capability list follows\r\nUSER\r\nSASL/);
  assert.match(out, /\+OK maildrop has 2 messages \(\d+ octets\)\r\n/);
});

test("commands pipelined behind STLS are discarded and the session is closed", async () => {
  const { fx, conn } = setup({ tls: "starttls" });
  conn.feed("STLS\r\nUSER alice@example.test\r\nPASS alice pw\r\n");
  await serve(fx, conn);
  assert.match(conn.output(), /\+OK begin TLS negotiation\r\n-ERR commands sent before the TLS handshake were discarded\r\n$/);
  assert.equal(fx.auth.calls.length, 0);
});

test("USER/PASS login: STAT, LIST, UIDL with exact sizes and stable UIDLs", async () => {
  const { out, fx, conn } = await transcript([...LOGIN, "STAT", "LIST", "LIST 2", "UIDL", "UIDL 1", "QUIT"]);
  const s1 = Buffer.byteLength(MSG1);
  const s2 = Buffer.byteLength(MSG2);
  const inbox = fx.store.inboxes.get(fx.store.accounts.get("alice@example.test")!.id)!;
  const expected = [
    "+OK Portcullis POP3 ready",
    "+OK send PASS",
    `+OK maildrop has 2 messages (${s1 + s2} octets)`,
    `+OK 2 ${s1 + s2}`,
    `+OK 2 messages (${s1 + s2} octets)`,
    `1 ${s1}`,
    `2 ${s2}`,
    ".",
    `+OK 2 ${s2}`,
    "+OK unique-id listing follows",
    `1 ${inbox.uidValidity}.1`,
    `2 ${inbox.uidValidity}.2`,
    ".",
    `+OK 1 ${inbox.uidValidity}.1`,
    "+OK Portcullis POP3 signing off (0 messages deleted, 2 left)",
    "",
  ];
  assert.equal(out, expected.join("\r\n"));
  assert.deepEqual(conn.phases, [{ phase: "authenticated", idleTimeoutMs: 10 * 60_000 }]);
  assert.deepEqual(conn.claims, [fx.store.accounts.get("alice@example.test")!.id]);
  for (const l of out.split("\r\n").filter((x) => /^\d+ \d+\.\d+$/.test(x))) {
    const uid = l.split(" ")[1]!;
    assert.match(uid, /^[\x21-\x7e]{1,70}$/);
  }
});

test("RETR streams the exact message, dot-stuffed, across tiny store chunks", async () => {
  const { fx, conn } = setup();
  fx.store.chunkSize = 3;
  conn.feed([...LOGIN, "RETR 1", "QUIT"].map((l) => l + "\r\n").join(""));
  await serve(fx, conn);
  const out = conn.output();
  const body = MSG1.replace("\r\n.dotted", "\r\n..dotted");
  assert.ok(out.includes(`+OK ${Buffer.byteLength(MSG1)} octets\r\n${body}.\r\n+OK Portcullis POP3 signing off`), out);
});

test("TOP returns headers, blank line and n body lines", async () => {
  const { out } = await transcript([...LOGIN, "TOP 2 2", "TOP 2 0", "TOP 1 1", "TOP 2 x", "TOP 9 1", "QUIT"]);
  assert.ok(out.includes("+OK top of message follows\r\nFrom: b@example.test\r\nSubject: two\r\n\r\nline 1\r\nline 2\r\n.\r\n"));
  assert.ok(out.includes("+OK top of message follows\r\nFrom: b@example.test\r\nSubject: two\r\n\r\n.\r\n"));
  assert.ok(out.includes("+OK top of message follows\r\nFrom: a@example.test\r\nSubject: one\r\n\r\nHello\r\n.\r\n"));
  assert.match(out, /-ERR invalid line count\r\n/);
  assert.match(out, /-ERR no such message, only 2 messages in maildrop\r\n/);
});

test("DELE marks, hides from STAT/LIST/UIDL, refuses a second DELE and RETR; RSET unmarks; nothing is expunged without QUIT", async () => {
  const { out, fx } = await transcript([...LOGIN, "DELE 1", "DELE 1", "RETR 1", "LIST 1", "STAT", "LIST", "UIDL", "RSET", "STAT", "DELE 2"], { eof: true });
  const s1 = Buffer.byteLength(MSG1);
  const s2 = Buffer.byteLength(MSG2);
  assert.match(out, /\+OK message 1 deleted\r\n-ERR message 1 already deleted\r\n-ERR message 1 already deleted\r\n-ERR message 1 already deleted\r\n/);
  assert.match(out, new RegExp(`\\+OK 1 ${s2}\\r\\n\\+OK 1 messages \\(${s2} octets\\)\\r\\n2 ${s2}\\r\\n\\.\\r\\n`));
  assert.match(out, /\+OK unique-id listing follows\r\n2 \d+\.2\r\n\.\r\n/);
  assert.match(out, new RegExp(`\\+OK maildrop has 2 messages \\(${s1 + s2} octets\\)\\r\\n\\+OK 2 ${s1 + s2}\\r\\n\\+OK message 2 deleted\\r\\n$`));
  // EOF without QUIT: no UPDATE (RFC 1939 §6)
  assert.deepEqual(fx.store.expunged, []);
  assert.equal(fx.store.messages.get(fx.store.inboxes.get(1)!.id)!.length, 2);
});

test("QUIT in TRANSACTION expunges the marked messages atomically and logs pop3.update", async () => {
  const { out, fx } = await transcript([...LOGIN, "DELE 2", "QUIT"]);
  assert.match(out, /\+OK Portcullis POP3 signing off \(1 messages deleted, 1 left\)\r\n$/);
  const inboxId = fx.store.inboxes.get(1)!.id;
  assert.deepEqual(fx.store.expunged, [{ mailboxId: inboxId, uids: [2] }]);
  const ev = fx.logLines.find((l) => l.event === "pop3.update");
  assert.ok(ev);
  assert.equal(ev.deleted, 1);
  assert.equal(ev.account, "alice@example.test");
});

test("QUIT when the store fails: -ERR some deleted messages not removed, lock released", async () => {
  const { fx, conn } = setup();
  fx.store.failExpunge = true;
  conn.feed([...LOGIN, "DELE 1", "QUIT"].map((l) => l + "\r\n").join(""));
  await serve(fx, conn);
  assert.match(conn.output(), /-ERR \[SYS\/TEMP\] some deleted messages not removed\r\n$/);
  assert.equal(conn.closed, true);
  const conn2 = new FakeConnection({ log: fx.services.log });
  conn2.feed([...LOGIN, "QUIT"].map((l) => l + "\r\n").join(""));
  await serve(fx, conn2);
  assert.match(conn2.output(), /\+OK maildrop has 2 messages/);
});

test("a destroyed connection after DELE deletes nothing and releases the lock", async () => {
  const { fx, conn } = setup();
  const done = serve(fx, conn);
  conn.feed([...LOGIN, "DELE 1", "DELE 2"].map((l) => l + "\r\n").join(""));
  await conn.waitFor(/message 2 deleted\r\n/);
  conn.destroy();
  await done;
  assert.deepEqual(fx.store.expunged, []);
  const conn2 = new FakeConnection({ log: fx.services.log });
  conn2.feed([...LOGIN, "STAT", "QUIT"].map((l) => l + "\r\n").join(""));
  await serve(fx, conn2);
  assert.match(conn2.output(), /\+OK 2 \d+\r\n/);
});

test("maildrop lock: a second session gets [IN-USE] until the first ends", async () => {
  const { fx, conn } = setup();
  const first = serve(fx, conn);
  conn.feed(LOGIN.map((l) => l + "\r\n").join(""));
  await conn.waitFor(/maildrop has/);

  // a different handler over the same store still sees the lock (pop3 and pop3s listeners)
  const conn2 = new FakeConnection({ log: fx.services.log, id: "c2" });
  const second = createPop3Handler(fx.services).serve(conn2);
  conn2.feed([...LOGIN, "STAT"].map((l) => l + "\r\n").join(""));
  await conn2.waitFor(/STAT not allowed/);
  assert.match(conn2.output(), /\+OK send PASS\r\n-ERR \[IN-USE\] maildrop already locked by another session\r\n-ERR STAT not allowed in AUTHORIZATION state\r\n/);

  // bob is not affected
  const conn3 = new FakeConnection({ log: fx.services.log, id: "c3" });
  conn3.feed("USER bob@example.test\r\nPASS bob-pw\r\nQUIT\r\n");
  await serve(fx, conn3);
  assert.match(conn3.output(), /\+OK maildrop has 0 messages/);

  conn.feed("QUIT\r\n");
  await first;
  conn2.feed([...LOGIN, "STAT", "QUIT"].map((l) => l + "\r\n").join(""));
  await second;
  assert.match(conn2.output(), /\+OK maildrop has 2 messages .*\r\n\+OK 2 \d+\r\n\+OK Portcullis POP3 signing off/s);
});

test("claimAccount refusal: [SYS/TEMP] and the maildrop stays unlocked", async () => {
  const { fx, conn } = setup();
  conn.claimOk = false;
  conn.feed([...LOGIN, "QUIT"].map((l) => l + "\r\n").join(""));
  await serve(fx, conn);
  assert.match(conn.output(), /-ERR \[SYS\/TEMP\] too many sessions for this account\r\n/);
  const conn2 = new FakeConnection({ log: fx.services.log });
  conn2.feed([...LOGIN, "QUIT"].map((l) => l + "\r\n").join(""));
  await serve(fx, conn2);
  assert.match(conn2.output(), /\+OK maildrop has 2/);
});

test("auth failures: wrong password, PASS without USER, throttled, banned closes", async () => {
  const r = await transcript(["PASS x", "USER alice@example.test", "PASS wrong", "PASS alice pw", "USER slow@example.test", "PASS x", "USER banned@example.test", "PASS x", "NOOP"]);
  assert.deepEqual(r.replies.slice(1), [
    "-ERR send USER first",
    "+OK send PASS",
    "-ERR [AUTH] authentication failed",
    "-ERR send USER first",
    "+OK send PASS",
    "-ERR [SYS/TEMP] too many failed logins, try again later",
    "+OK send PASS",
    "-ERR [AUTH] authentication failed",
    "",
  ]);
  assert.equal(r.conn.closed, true);
});

test("PASS keeps spaces in the password", async () => {
  const { out } = await transcript(["USER alice@example.test", "PASS alice pw", "QUIT"]);
  assert.match(out, /\+OK maildrop has 2/);
});

test("AUTH PLAIN with initial response, with continuation, cancel and bad base64", async () => {
  const ir = Buffer.from("\0alice@example.test\0alice pw").toString("base64");
  const r = await transcript([`AUTH PLAIN ${ir}`, "QUIT"]);
  assert.match(r.out, /\+OK maildrop has 2 messages/);

  const r2 = await transcript(["AUTH PLAIN", "*", "AUTH PLAIN", "!!!", "AUTH PLAIN", ir, "QUIT"]);
  assert.deepEqual(r2.replies.slice(1, 7), ["+ ", "-ERR authentication cancelled", "+ ", "-ERR invalid base64 in response", "+ ", r2.replies[6]!]);
  assert.match(r2.replies[6]!, /^\+OK maildrop has 2 messages/);

  const r3 = await transcript(["AUTH PLAIN =", "AUTH PLAIN ***", "AUTH CRAM-MD5", "AUTH", "QUIT"]);
  assert.deepEqual(r3.replies.slice(1), [
    "-ERR [AUTH] malformed authentication exchange",
    "-ERR invalid base64 in initial response",
    "-ERR unsupported SASL mechanism",
    "+OK SASL mechanisms follow",
    "SCRAM-SHA-256",
    "PLAIN",
    ".",
    "+OK Portcullis POP3 signing off",
    "",
  ]);
});

test("AUTH: additional data with success is sent as a last challenge", async () => {
  const r = await transcript(["AUTH X-TWO-STEP", Buffer.from("alice@example.test").toString("base64"), "", "QUIT"]);
  assert.deepEqual(r.replies.slice(1, 4), [`+ ${Buffer.from("who?").toString("base64")}`, `+ ${Buffer.from("server-final").toString("base64")}`, r.replies[3]!]);
  assert.match(r.replies[3]!, /^\+OK maildrop has 2/);
});

test("a line over 255 octets: -ERR line too long, closed, nothing run", async () => {
  const { fx, conn } = setup();
  conn.feed("USER alice@example.test\r\nPASS " + "a".repeat(5000) + "\r\nNOOP\r\n");
  await serve(fx, conn);
  assert.equal(conn.output(), "+OK Portcullis POP3 ready\r\n+OK send PASS\r\n-ERR line too long\r\n");
  assert.equal(conn.closed, true);
  assert.equal(fx.auth.calls.length, 0);
});

test("a line of exactly 255 octets including CRLF is accepted", async () => {
  const pass = "p".repeat(255 - 2 - "PASS ".length);
  const { out } = await transcript(["USER alice@example.test", `PASS ${pass}`, "QUIT"]);
  assert.match(out, /-ERR \[AUTH\] authentication failed\r\n\+OK Portcullis POP3 signing off/);
});

test("too many bad commands close the connection", async () => {
  const { out, conn } = await transcript(Array.from({ length: 12 }, () => "BOGUS"), { eof: false });
  assert.equal(out.split("\r\n").filter((l) => l === "-ERR unknown command").length, 10);
  assert.match(out, /-ERR too many bad commands\r\n$/);
  assert.equal(conn.closed, true);
});

test("an HTTP request gets one -ERR and the connection is closed", async () => {
  const { out, conn } = await transcript(["POST /form HTTP/1.1", "Host: 127.0.0.1:110", "Content-Type: text/plain", "", "USER alice@example.test"], { eof: false });
  assert.equal(out, "+OK Portcullis POP3 ready\r\n-ERR this is a POP3 server, not an HTTP server\r\n");
  assert.equal(conn.closed, true);
});

test("syntax errors name the usage", async () => {
  const { out } = await transcript([...LOGIN, "RETR", "RETR 1 2", "DELE x", "LIST 0", "QUIT"]);
  assert.match(out, /-ERR syntax error: RETR msg\r\n-ERR syntax error: RETR msg\r\n-ERR invalid message number\r\n-ERR invalid message number\r\n/);
});

test("timeout: -ERR [SYS/TEMP] timeout, no UPDATE", async () => {
  const { fx, conn } = setup();
  conn.readLine = ((orig) => {
    let n = 0;
    return async (max: number) => (++n <= 3 ? orig(max) : Promise.reject(new InputError("timeout", "idle")));
  })(conn.readLine.bind(conn));
  conn.feed([...LOGIN, "DELE 1"].map((l) => l + "\r\n").join(""));
  await serve(fx, conn);
  assert.match(conn.output(), /\+OK message 1 deleted\r\n-ERR \[SYS\/TEMP\] timeout\r\n$/);
  assert.deepEqual(fx.store.expunged, []);
});

test("shutdown while idle: -ERR [SYS/TEMP] server shutting down, no UPDATE", async () => {
  const { fx, conn } = setup();
  const done = serve(fx, conn);
  conn.feed([...LOGIN, "DELE 1"].map((l) => l + "\r\n").join(""));
  await conn.waitFor(/message 1 deleted/);
  conn.shutdown();
  await done;
  assert.match(conn.output(), /\+OK message 1 deleted\r\n-ERR \[SYS\/TEMP\] server shutting down\r\n$/);
  assert.deepEqual(fx.store.expunged, []);
});

test("refusal lines for the gate", () => {
  const { fx } = setup();
  const h = createPop3Handler(fx.services);
  assert.equal(h.protocol, "pop3");
  for (const reason of ["access", "banned", "too-many-connections", "rate", "shutdown"] as const) assert.match(h.refusal(reason), /^-ERR \[SYS\/(TEMP|PERM)\] [^\r\n]+\r\n$/);
});

test("a message removed by another session meanwhile: -ERR, session continues", async () => {
  const { fx, conn } = setup();
  const done = serve(fx, conn);
  conn.feed(LOGIN.map((l) => l + "\r\n").join(""));
  await conn.waitFor(/maildrop has/);
  await fx.services.store.expunge(fx.store.inboxes.get(1)!.id, [1]);
  conn.feed("RETR 1\r\nRETR 2\r\nQUIT\r\n");
  await done;
  assert.match(conn.output(), /-ERR message was removed by another session\r\n\+OK \d+ octets\r\n/);
});

test("a store failure in the middle of RETR: no -ERR inside the message, logged, closed, nothing deleted", async () => {
  const { fx, conn } = setup();
  fx.store.chunkSize = 10;
  fx.store.breakBodies = true;
  conn.feed([...LOGIN, "DELE 2", "RETR 1", "QUIT"].map((l) => l + "\r\n").join(""));
  await serve(fx, conn);
  const out = conn.output();
  assert.ok(out.endsWith(`+OK ${Buffer.byteLength(MSG1)} octets\r\n${MSG1.slice(0, 10)}`), out);
  assert.equal(conn.closed, true);
  assert.deepEqual(fx.store.expunged, []);
  assert.ok(fx.logLines.some((l) => l.event === "session.error"));
});

test("50,000-message maildrop: STAT answers fast and LIST is complete", async () => {
  const fx = pop3Fixture();
  for (let i = 0; i < 50_000; i++) fx.store.append("bob@example.test", "S: x\r\n\r\nb\r\n");
  const conn = new FakeConnection({ log: fx.services.log });
  const done = serve(fx, conn);
  conn.feed("USER bob@example.test\r\nPASS bob-pw\r\n");
  await conn.waitFor(/maildrop has 50000 messages/);
  const t0 = process.hrtime.bigint();
  conn.feed("STAT\r\n");
  await conn.waitFor(/\+OK 50000 550000\r\n/);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  assert.ok(ms < 100, `STAT took ${ms} ms`);
  conn.feed("LIST\r\nQUIT\r\n");
  await done;
  const out = conn.output();
  assert.match(out, /\r\n50000 11\r\n\.\r\n/);
});
