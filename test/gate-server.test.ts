// The gate inside the real server (src/server.ts via test/helpers/server.ts): every protocol
// listener goes through the same admission pipeline, and each refusal is the protocol's own line.

import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import tls from "node:tls";
import { startTestServer, type TestServer } from "./helpers/server.js";

let srv: TestServer;

before(async () => {
  srv = await startTestServer({ config: { access: { deny: ["127.0.0.9"] } } });
});
after(() => srv?.stop());

function firstBytes(port: number, localAddress: string): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port, localAddress });
    let out = "";
    s.setEncoding("latin1");
    s.on("data", (d: string) => {
      out += d;
      if (out.includes("\r\n")) s.destroy();
    });
    s.on("error", () => {});
    const t = setTimeout(() => s.destroy(), 5000);
    s.on("close", () => {
      clearTimeout(t);
      resolve(out);
    });
  });
}

test("SMTP and POP3 listeners: a denied address gets the protocol's refusal before any greeting", async () => {
  for (const [name, port, refused, greeting] of [
    ["smtp", srv.ports.smtp, /^554 /, /^220 /],
    ["submission", srv.ports.submission, /^554 /, /^220 /],
    ["pop3", srv.ports.pop3, /^-ERR /, /^\+OK /],
  ] as const) {
    assert.notEqual(port, 0, `${name} listener is open`);
    assert.match(await firstBytes(port, "127.0.0.9"), refused, name);
    assert.match(await firstBytes(port, "127.0.0.1"), greeting, name);
  }
  assert.ok(srv.events().some((e) => e.event === "conn.refused" && e.ip === "127.0.0.9" && e.reason === "access"));
});

test("implicit-TLS listeners (submissions, pop3s): a denied address is closed without a handshake; others get TLS", async () => {
  for (const port of [srv.ports.submissions, srv.ports.pop3s]) {
    assert.notEqual(port, 0);
    assert.equal(await firstBytes(port, "127.0.0.9"), "");
    const greeting = await new Promise<string>((resolve, reject) => {
      const s = tls.connect({ host: "127.0.0.1", port, ca: srv.caCert, servername: "localhost" });
      s.setEncoding("latin1");
      s.once("data", (d: string) => {
        resolve(d);
        s.destroy();
      });
      s.once("error", reject);
    });
    assert.match(greeting, /^(220 |\+OK )/);
  }
});
