// End to end: the IMAP session's limits. Autologout before login, APPEND larger than
// max_message_size refused before the literal is sent ([TOOBIG]), a non-synchronising literal
// that is too large ends the session, the per-account session cap ([LIMIT]), and a client whose
// failed logins get its IP banned is told BYE and disconnected.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { PASSWORD, RawImap } from "./imap-helpers.js";

let server: TestServer;

before(async () => {
  server = await startTestServer({
    config: {
      limits: { preauth_timeout: "1s", max_message_size: "64KB", max_sessions_per_account: 2 },
      auth: { max_failures_per_ip: 3 },
    },
  });
});
after(async () => {
  await server?.stop();
});

test("an idle client before login is logged out with BYE", async () => {
  const c = await RawImap.connect(server, { implicitTls: true });
  try {
    const t0 = Date.now();
    const out = await c.until(() => c.closed, 5000);
    assert.match(out, /^\* BYE Autologout/m);
    assert.ok(Date.now() - t0 < 4000);
  } finally {
    c.close();
  }
});

test("APPEND above max_message_size: NO [TOOBIG] before the literal; a non-sync one ends the session", async () => {
  await server.addUser("limits-append@example.test", PASSWORD);
  const c = await RawImap.connect(server, { implicitTls: true });
  try {
    await c.login("limits-append@example.test");
    // Synchronising literal: refused instead of "+", so nothing is uploaded.
    c.send(`a1 APPEND INBOX {${100 * 1024}}\r\n`);
    const r = await c.tagged("a1");
    assert.match(r, /^a1 NO \[TOOBIG\]/m);
    assert.doesNotMatch(r, /^\+/m);
    // The session still works; a small message is accepted.
    const msg = "Subject: small\r\n\r\nsmall\r\n";
    c.send(`a2 APPEND INBOX {${msg.length}}\r\n`);
    await c.until((b) => b.startsWith("+"));
    c.take();
    c.send(msg + "\r\n");
    assert.match(await c.tagged("a2"), /^a2 OK \[APPENDUID \d+ 1\]/m);
    // Non-synchronising literal the client sends anyway: answered, then BYE and close.
    c.send(`a3 APPEND INBOX {${100 * 1024}+}\r\n`);
    const out = await c.until(() => c.closed, 5000);
    assert.match(out, /^a3 BAD \[TOOBIG\]/m);
    assert.match(out, /^\* BYE /m);
  } finally {
    c.close();
  }
});

test("max_sessions_per_account: the third concurrent login is refused with [LIMIT]", async () => {
  await server.addUser("limits-sessions@example.test", PASSWORD);
  const cs = await Promise.all([0, 1, 2].map(() => RawImap.connect(server, { implicitTls: true })));
  try {
    assert.match(await cs[0]!.login("limits-sessions@example.test"), /^t1 OK/m);
    assert.match(await cs[1]!.login("limits-sessions@example.test"), /^t1 OK/m);
    assert.match(await cs[2]!.login("limits-sessions@example.test"), /^t1 NO \[LIMIT\]/m);
    cs[0]!.close();
    await new Promise((r) => setTimeout(r, 200));
    assert.match(await cs[2]!.login("limits-sessions@example.test"), /^t2 OK/m);
  } finally {
    for (const c of cs) c.close();
  }
});

test("APPEND before login is refused before its literal is read", async () => {
  const c = await RawImap.connect(server, { implicitTls: true });
  try {
    c.take();
    c.send("p1 APPEND INBOX {40000}\r\n");
    const r = await c.tagged("p1");
    assert.match(r, /^p1 BAD .*Log in first/m);
    assert.doesNotMatch(r, /^\+ /m);
    c.send("p2 APPEND INBOX {40000+}\r\n");
    const out = await c.until(() => c.closed, 5000);
    assert.match(out, /^p2 BAD /m);
    assert.match(out, /^\* BYE /m);
  } finally {
    c.close();
  }
});


test("repeated failed logins: the IP is banned, told BYE and disconnected", async () => {
  await server.addUser("limits-ban@example.test", PASSWORD);
  const c = await RawImap.connect(server, { implicitTls: true });
  try {
    let last = "";
    for (let i = 0; i < 5 && !c.closed; i++) {
      c.send(`b${i} LOGIN limits-ban@example.test wrong-password-${i}\r\n`);
      last = await c.until((b) => new RegExp(`^b${i} (NO|BAD)`, "m").test(b) || c.closed, 15_000);
      if (/\* BYE/.test(last)) break;
      c.take();
    }
    assert.match(last, /NO \[AUTHENTICATIONFAILED\]/);
    assert.match(last, /^\* BYE /m);
    await c.until(() => c.closed, 5000);
    assert.ok(c.closed);
    assert.ok(server.events().some((e) => e.event === "ban.added"));
  } finally {
    c.close();
  }
});

test("server shutdown: a session in IDLE is told BYE and closed", async () => {
  const own = await startTestServer();
  try {
    await own.addUser("limits-shutdown@example.test", PASSWORD);
    const c = await RawImap.connect(own, { implicitTls: true });
    await c.login("limits-shutdown@example.test");
    await c.cmd("SELECT INBOX");
    c.send("i1 IDLE\r\n");
    await c.until((b) => /^\+ idling/m.test(b));
    const stopping = own.stop();
    const out = await c.until(() => c.closed, 5000);
    assert.match(out, /^\* BYE /m);
    await stopping;
  } finally {
    await own.stop();
  }
});
