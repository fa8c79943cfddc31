// The end-to-end harness itself: a real server on 127.0.0.1, TLS trusted through caCert for the
// name "localhost", config overrides merged like a drop-in, audit events captured, accounts made
// with real credentials, and everything removed by stop().

import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import tls from "node:tls";
import { stat } from "node:fs/promises";
import { startTestServer } from "./server.js";

function firstLine(o: { port: number; tls?: { ca: string; servername: string } }): Promise<{ line: string; authorized?: boolean }> {
  return new Promise((resolve, reject) => {
    const sock = o.tls ? tls.connect({ host: "127.0.0.1", port: o.port, ca: o.tls.ca, servername: o.tls.servername }) : net.connect(o.port, "127.0.0.1");
    sock.setTimeout(10_000, () => reject(new Error("timeout")));
    sock.once("error", reject);
    sock.once("data", (d: Buffer) => {
      resolve({ line: d.toString(), ...(sock instanceof tls.TLSSocket ? { authorized: sock.authorized } : {}) });
      sock.destroy();
    });
  });
}

test("startTestServer: real listeners, trusted TLS, overrides, events, users, cleanup", async () => {
  const s = await startTestServer({ config: { limits: { max_connections_per_ip: 7 }, smtp: { max_recipients: 3 } } });
  try {
    assert.equal(s.host, "127.0.0.1");
    assert.equal(s.domain, "example.test");
    assert.equal(s.config.server.hostname, "localhost");
    assert.equal(s.config.limits.max_connections_per_ip, 7, "override applied");
    assert.equal(s.config.smtp.max_recipients, 3, "override applied");
    assert.ok(Object.isFrozen(s.config));
    assert.equal(((await stat(s.dataDir)).mode & 0o777).toString(8), "700");
    assert.ok(s.caCert.startsWith("-----BEGIN CERTIFICATE-----"));

    assert.deepEqual((await s.services.store.listDomains()).map((d) => d.name).sort(), ["example.test", "localhost"]);

    for (const name of ["smtp", "submission", "submissions", "pop3", "pop3s"] as const) assert.ok(s.ports[name] > 0, `${name} port`);
    assert.match((await firstLine({ port: s.ports.smtp })).line, /^220 localhost /);
    const implicit = await firstLine({ port: s.ports.submissions, tls: { ca: s.caCert, servername: "localhost" } });
    assert.equal(implicit.authorized, true);
    assert.match(implicit.line, /^220 /);
    assert.match((await firstLine({ port: s.ports.pop3s, tls: { ca: s.caCert, servername: "localhost" } })).line, /^\+OK/);

    const account = await s.addUser("Alice@example.test", "correct horse battery staple");
    assert.equal(account.address, "alice@example.test");
    assert.match(account.credentials!.passwordHash, /^\$argon2id\$/);

    const events = s.events();
    assert.ok(events.some((e) => e.event === "server.start"), "server.start captured");
    assert.ok(events.some((e) => e.event === "conn.open"), "conn.open captured");
    assert.ok(events.every((e) => e.service === "portcullis"));
  } finally {
    await s.stop();
  }
  await assert.rejects(stat(s.dataDir), { code: "ENOENT" });
  await s.stop(); // idempotent
});

test("two harness servers run side by side", async () => {
  const [a, b] = await Promise.all([startTestServer(), startTestServer()]);
  try {
    assert.notEqual(a.ports.smtp, b.ports.smtp);
    assert.notEqual(a.dataDir, b.dataDir);
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
});
