// The gate's listeners: exclusive binding, several addresses on one port, IPv6, SNI, which
// listeners open, and connections that vanish during admission.

import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import tls from "node:tls";
import path from "node:path";
import { writeFile } from "node:fs/promises";
import { X509Certificate } from "node:crypto";
import { networkInterfaces } from "node:os";
import { startGate, makeCert, LineClient, until, HOST } from "./fixtures/gate-harness.js";

test("a port already in use makes start() fail with the listener named, and nothing stays bound", async () => {
  const squatter = net.createServer();
  await new Promise<void>((r) => squatter.listen({ host: HOST, port: 0 }, () => r()));
  const port = (squatter.address() as net.AddressInfo).port;
  try {
    await assert.rejects(
      startGate({ config: { listeners: { zz_taken: { protocol: "smtp", smtp_role: "mx", port, addresses: [HOST], tls: "starttls" } } } }),
      /listener zz_taken: cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/,
    );
  } finally {
    squatter.close();
  }
});

test("listeners bound earlier are released when a later one fails", async () => {
  const squatter = net.createServer();
  await new Promise<void>((r) => squatter.listen({ host: HOST, port: 0 }, () => r()));
  const port = (squatter.address() as net.AddressInfo).port;
  let opened: number[] = [];
  try {
    await startGate({ config: { listeners: { zz_taken: { protocol: "smtp", smtp_role: "mx", port, addresses: [HOST], tls: "starttls" } } } }).catch(
      (err: { auditLines?: Array<Record<string, unknown>> }) => {
        opened = (err.auditLines ?? []).filter((l) => l.event === "listener.open").map((l) => l.port as number);
      },
    );
  } finally {
    squatter.close();
  }
  assert.ok(opened.length >= 1);
  for (const p of opened) {
    await assert.rejects(
      new Promise((resolve, reject) => {
        const s = net.connect({ host: HOST, port: p }, () => resolve(s));
        s.once("error", reject);
      }),
      /ECONNREFUSED/,
    );
  }
});

const hasIpv6Loopback = Object.values(networkInterfaces()).some((l) => l?.some((a) => a.family === "IPv6" && a.address === "::1"));

test("one listener on 127.0.0.1 and ::1 shares one port; IPv6 clients keep their address", async () => {
  const g = await startGate({ config: { listeners: { dual: { protocol: "smtp", smtp_role: "mx", port: 0, addresses: ["127.0.0.1", "::1"], tls: "starttls" } } } });
  try {
    const port = g.ports.dual!;
    const v4 = await LineClient.connect(port);
    assert.equal(await v4.line(), "* OK gate test ready");
    v4.close();
    const opened = g.events("listener.open").filter((e) => e.listener === "dual");
    if (hasIpv6Loopback) {
      assert.deepEqual(opened.map((e) => [e.host, e.port]), [["127.0.0.1", port], ["::1", port]]);
      const s = net.connect({ host: "::1", port });
      const c = await new Promise<LineClient>((resolve, reject) => {
        s.once("connect", () => resolve(LineClient.fromSocket(s)));
        s.once("error", reject);
      });
      assert.equal(await c.line(), "* OK gate test ready");
      const info = JSON.parse((await c.cmd("INFO"))!.slice(5)) as { remoteAddress: string };
      assert.equal(info.remoteAddress, "::1");
      c.close();
    } else {
      // No IPv6 here: the IPv6 address is skipped with a log line, IPv4 still serves.
      assert.deepEqual(opened.map((e) => e.host), ["127.0.0.1"]);
      assert.ok(g.lines().some((l) => /IPv6/.test(String(l.msg))));
    }
  } finally {
    await g.stop();
  }
});

test("SNI: a configured name gets its own certificate, other names the default one", async () => {
  const sni = await makeCert("mail.example.test");
  const g = await startGate({
    config: { tls: { sni: [{ name: "mail.example.test", cert: "tls/sni.pem", key: "tls/sni-key.pem" }] } },
    beforeStart: async (dir) => {
      await writeFile(path.join(dir, "tls", "sni.pem"), sni.cert);
      await writeFile(path.join(dir, "tls", "sni-key.pem"), sni.key, { mode: 0o600 });
    },
  });
  try {
    const peer = (servername: string) =>
      new Promise<string>((resolve, reject) => {
        const s = tls.connect({ host: HOST, port: g.ports.implicit!, servername, rejectUnauthorized: false }, () => {
          resolve(s.getPeerX509Certificate()!.fingerprint256);
          s.destroy();
        });
        s.once("error", reject);
      });
    assert.equal(await peer("mail.example.test"), new X509Certificate(sni.cert).fingerprint256);
    assert.equal(await peer("MAIL.example.test"), new X509Certificate(sni.cert).fingerprint256);
    assert.equal(await peer("localhost"), new X509Certificate(g.cert).fingerprint256);
  } finally {
    await g.stop();
  }
});

test("a missing certificate file stops start() with the file named", async () => {
  await assert.rejects(startGate({ config: { tls: { cert: "tls/nope.pem" } } }), /TLS certificate for default: .*nope\.pem/);
});

test("only listeners with a handler are opened; http and disabled listeners are left alone", async () => {
  const g = await startGate({
    config: {
      listeners: {
        admin: { protocol: "http", port: 0, addresses: [HOST], tls: "none" },
        pop: { protocol: "pop3", port: 0, addresses: [HOST], tls: "starttls" },
        off: { protocol: "smtp", smtp_role: "mx", port: 0, addresses: [HOST], tls: "starttls", enabled: false },
      },
    },
  });
  try {
    assert.deepEqual(Object.keys(g.ports).sort(), ["implicit", "insecure", "plain", "proxied", "proxiedtls"]);
  } finally {
    await g.stop();
  }
});

test("clients that connect and reset at once, many times: every slot is released, no session hangs", async () => {
  const g = await startGate();
  try {
    await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        new Promise<void>((resolve) => {
          const s = net.connect({ host: HOST, port: i % 2 ? g.ports.plain! : g.ports.implicit! });
          s.on("error", () => {});
          s.on("connect", () => s.resetAndDestroy());
          s.on("close", () => resolve());
        }),
      ),
    );
    await until(() => g.limiter.active === 0 && g.gate.active === 0, 5000, "all slots released");
    assert.equal(g.limiter.doubleReleases, 0);
    // And the server still works.
    const c = await LineClient.connect(g.ports.plain!);
    assert.equal(await c.line(), "* OK gate test ready");
    c.close();
  } finally {
    await g.stop();
  }
});
