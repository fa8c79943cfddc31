// End to end: the security policy in a running server, seen from a client on loopback. Access
// rules and connection limits refuse before the greeting; failed POP3 logins get 127.0.0.1 banned
// (refused on every listener, persisted in the store); `portcullis ban del` run as a separate
// process lifts the ban while the server runs.

import { test } from "node:test";
import assert from "node:assert/strict";
import { connect as tcpConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { join } from "node:path";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { runCli } from "./helpers/cli.js";

/** A line client: `line()` resolves the next line (without CRLF), or null once the server closed. */
interface Client {
  line(timeoutMs?: number): Promise<string | null>;
  send(text: string): void;
  close(): void;
}

function client(socket: Socket): Client {
  let buf = "";
  let ended = false;
  const waiters: Array<() => void> = [];
  const wake = () => waiters.splice(0).forEach((w) => w());
  socket.setEncoding("latin1");
  socket.on("data", (d: string) => {
    buf += d;
    wake();
  });
  socket.on("close", () => {
    ended = true;
    wake();
  });
  socket.on("error", () => undefined);
  return {
    async line(timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const i = buf.indexOf("\r\n");
        if (i !== -1) {
          const l = buf.slice(0, i);
          buf = buf.slice(i + 2);
          return l;
        }
        if (ended) return null;
        if (Date.now() > deadline) throw new Error(`no line within ${timeoutMs} ms (buffered: ${JSON.stringify(buf)})`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 100);
        });
      }
    },
    send(text) {
      socket.write(text + "\r\n");
    },
    close() {
      socket.destroy();
    },
  };
}

function plain(server: TestServer, port: number): Client {
  return client(tcpConnect({ host: server.host, port }));
}

function secure(server: TestServer, port: number): Client {
  return client(tlsConnect({ host: server.host, port, ca: server.caCert, servername: "localhost" }));
}

function events(server: TestServer, name: string) {
  return server.events().filter((e) => e.event === name);
}

test("access rules refuse before the greeting, per listener, and are logged with the deciding rule", async () => {
  const server = await startTestServer({ config: { access: { listener: { pop3: { deny: ["127.0.0.0/8"] } } } } });
  try {
    const refused = plain(server, server.ports.pop3);
    assert.equal(await refused.line(), "-ERR [SYS/PERM] access denied");
    assert.equal(await refused.line(), null, "then the server closes");

    const allowed = secure(server, server.ports.pop3s);
    assert.match((await allowed.line()) ?? "", /^\+OK/);
    allowed.close();

    const ev = events(server, "conn.refused");
    assert.equal(ev.length, 1);
    assert.equal(ev[0]!.reason, "access");
    assert.equal(ev[0]!.rule, "deny 127.0.0.0/8 (listener pop3)");
  } finally {
    await server.stop();
  }
});

test("connection limits: per-IP concurrency refused and released on close", async () => {
  const server = await startTestServer({ config: { limits: { max_connections_per_ip: 2 } } });
  try {
    const a = plain(server, server.ports.pop3);
    const b = plain(server, server.ports.pop3);
    assert.match((await a.line()) ?? "", /^\+OK/);
    assert.match((await b.line()) ?? "", /^\+OK/);
    const c = plain(server, server.ports.pop3);
    assert.equal(await c.line(), "-ERR [SYS/TEMP] too many connections, try again later");
    a.send("QUIT");
    assert.match((await a.line()) ?? "", /^\+OK/);
    assert.equal(await a.line(), null);
    // The slot is free again once the first connection has closed.
    let greeting: string | null = null;
    for (let i = 0; i < 20 && !greeting?.startsWith("+OK"); i++) {
      const d = plain(server, server.ports.pop3);
      greeting = await d.line();
      d.close();
      if (!greeting?.startsWith("+OK")) await new Promise((r) => setTimeout(r, 50));
    }
    assert.match(greeting ?? "", /^\+OK/);
    b.close();
  } finally {
    await server.stop();
  }
});

test("new connections per minute: the client over the rate is refused", async () => {
  const server = await startTestServer({ config: { limits: { max_new_connections_per_ip_per_minute: 3 } } });
  try {
    for (let i = 0; i < 3; i++) {
      const c = plain(server, server.ports.pop3);
      assert.match((await c.line()) ?? "", /^\+OK/);
      c.close();
    }
    const over = plain(server, server.ports.pop3);
    assert.equal(await over.line(), "-ERR [SYS/TEMP] too many new connections, slow down");
    assert.ok(events(server, "conn.refused").some((e) => e.reason === "rate"));
  } finally {
    await server.stop();
  }
});

test("failed logins ban the client: refused everywhere, in the store, lifted by `portcullis ban del`", async () => {
  const server = await startTestServer({ config: { auth: { max_failures_per_ip: 3, ban_duration: "1h" } } });
  try {
    await server.addUser("victim@example.test", "correct-Horse-battery-9");
    const s = secure(server, server.ports.pop3s);
    assert.match((await s.line()) ?? "", /^\+OK/);
    const replies: string[] = [];
    const started = Date.now();
    for (let i = 0; i < 3; i++) {
      s.send("USER victim@example.test");
      assert.match((await s.line()) ?? "", /^\+OK/);
      s.send(`PASS wrong-${i}`);
      const reply = await s.line();
      replies.push(reply ?? "(closed)");
      if (reply === null) break;
    }
    s.close();
    assert.equal(replies.length, 3, JSON.stringify(replies));
    for (const r of replies) assert.match(r, /^-ERR/);
    // The throttle's delays: 0 before the first guess, then 250 ms, then 500 ms.
    assert.ok(Date.now() - started >= 700, `guesses were slowed (${Date.now() - started} ms)`);

    const added = events(server, "ban.added");
    assert.equal(added.length, 1);
    assert.equal(added[0]!.subject, "127.0.0.1");
    assert.equal(added[0]!.reason, "auth failures");
    const stored = await server.services.store.getBans();
    assert.deepEqual(stored.map((b) => b.subject), ["127.0.0.1"]);

    // Refused before the greeting on the plain listener (with a reply) and on implicit TLS (closed).
    const p = plain(server, server.ports.pop3);
    assert.equal(await p.line(), "-ERR [SYS/TEMP] access temporarily refused");
    const t = plain(server, server.ports.pop3s);
    assert.equal(await t.line(), null);
    assert.ok(events(server, "conn.refused").some((e) => e.reason === "banned" && e.ban === "127.0.0.1"));

    // The operator lifts the ban from another process; the server notices within seconds.
    const configFile = join(server.dataDir, "portcullis.toml");
    const list = await runCli(["ban", "list", "--config", configFile]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /127\.0\.0\.1/);
    const del = await runCli(["ban", "del", "127.0.0.1", "--config", configFile]);
    assert.equal(del.code, 0, del.stderr);
    let greeting: string | null = null;
    const deadline = Date.now() + 12_000;
    while (Date.now() < deadline) {
      const c = plain(server, server.ports.pop3);
      greeting = await c.line();
      c.close();
      if (greeting?.startsWith("+OK")) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.match(greeting ?? "", /^\+OK/, "the lifted ban no longer applies");
    assert.ok(events(server, "ban.lifted").some((e) => e.subject === "127.0.0.1"));
  } finally {
    await server.stop();
  }
});
