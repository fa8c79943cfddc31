// The gate's admission pipeline end to end with the real policy: access rules, bans, connection
// limits, and the PROXY protocol. Several loopback source addresses (127.0.0.2, .3, ...) stand for
// different clients.

import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import tls from "node:tls";
import { startGate, LineClient, until, delay, HOST, type GateHarness } from "./fixtures/gate-harness.js";
import { buildProxyV2 } from "../src/net/proxy.js";

let h: GateHarness;

before(async () => {
  h = await startGate({
    config: {
      access: {
        deny: ["127.0.0.4"],
        listener: { plain: { allow: ["127.0.0.1"], deny: ["127.0.0.6/31"] } },
      },
      limits: { max_connections_per_ip: 5 },
    },
    timings: { proxyHeaderTimeoutMs: 600 },
  });
});
after(() => h.stop());

/** Everything the server sends until it closes (or `ms` pass). */
function drain(port: number, o: { localAddress?: string; send?: string | Buffer; ms?: number } = {}): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host: HOST, port, localAddress: o.localAddress });
    let out = "";
    s.setEncoding("latin1");
    s.on("data", (d: string) => (out += d));
    s.on("error", () => {});
    s.on("connect", () => o.send !== undefined && s.write(o.send));
    const t = setTimeout(() => s.destroy(), o.ms ?? 3000);
    s.on("close", () => {
      clearTimeout(t);
      resolve(out);
    });
  });
}

test("access rules: listener allow before listener deny; a denied client is refused before any greeting", async () => {
  // 127.0.0.1 is allowed on "plain" by its listener rule.
  const ok = await LineClient.connect(h.ports.plain!, { localAddress: "127.0.0.1" });
  assert.equal(await ok.line(), "* OK gate test ready");
  ok.close();
  // 127.0.0.7 falls in the listener's deny 127.0.0.6/31.
  assert.equal(await drain(h.ports.plain!, { localAddress: "127.0.0.7" }), "* BYE refused access\r\n");
  // The same address is fine on another listener (the rule is per listener).
  const other = await LineClient.connect(h.ports.insecure!, { localAddress: "127.0.0.7" });
  assert.equal(await other.line(), "* OK gate test ready");
  other.close();
  const ev = h.events("conn.refused").find((e) => e.ip === "127.0.0.7");
  assert.equal(ev?.reason, "access");
  assert.equal(ev?.listener, "plain");
  assert.match(String(ev?.rule), /127\.0\.0\.6\/31/);
  assert.ok(!h.events("conn.open").some((e) => e.ip === "127.0.0.7" && e.listener === "plain"));
});

test("access rules: a global deny; on an implicit-TLS listener the refusal is a plain close, with no handshake", async () => {
  assert.equal(await drain(h.ports.insecure!, { localAddress: "127.0.0.4" }), "* BYE refused access\r\n");
  assert.equal(await drain(h.ports.implicit!, { localAddress: "127.0.0.4" }), "");
  assert.ok(!h.events("tls.failed").some((e) => e.ip === "127.0.0.4"));
  assert.equal(h.events("conn.refused").filter((e) => e.ip === "127.0.0.4").length, 2);
});

test("a connection flood from 127.0.0.2 past max_connections_per_ip is refused while 127.0.0.3 is served", async () => {
  const held: LineClient[] = [];
  for (let i = 0; i < 5; i++) {
    const c = await LineClient.connect(h.ports.insecure!, { localAddress: "127.0.0.2" });
    assert.equal(await c.line(), "* OK gate test ready");
    held.push(c);
  }
  const refused = await Promise.all(Array.from({ length: 20 }, () => drain(h.ports.insecure!, { localAddress: "127.0.0.2" })));
  assert.deepEqual(new Set(refused), new Set(["* BYE refused too-many-connections\r\n"]));
  const other = await LineClient.connect(h.ports.insecure!, { localAddress: "127.0.0.3" });
  assert.equal(await other.line(), "* OK gate test ready");
  assert.equal(await other.cmd("ECHO served"), "ECHO served");
  other.close();
  assert.equal(h.events("conn.refused").filter((e) => e.ip === "127.0.0.2" && e.reason === "too-many-connections").length, 20);
  // Slots come back when connections close.
  for (const c of held) c.close();
  await until(() => h.limiter.active <= 1, 3000, "slots to be released");
  const again = await LineClient.connect(h.ports.insecure!, { localAddress: "127.0.0.2" });
  assert.equal(await again.line(), "* OK gate test ready");
  again.close();
});

test("a banned address is refused before the greeting; lifting the ban lets it in", async () => {
  await h.bans.ban("127.0.0.5", "test ban", 60_000);
  assert.equal(await drain(h.ports.insecure!, { localAddress: "127.0.0.5" }), "* BYE refused banned\r\n");
  assert.equal(h.events("conn.refused").find((e) => e.ip === "127.0.0.5")?.reason, "banned");
  await h.bans.lift("127.0.0.5");
  const c = await LineClient.connect(h.ports.insecure!, { localAddress: "127.0.0.5" });
  assert.equal(await c.line(), "* OK gate test ready");
  c.close();
});

test("new connections per minute: past the rate, refused with 'rate'", async () => {
  const g = await startGate({ config: { limits: { max_new_connections_per_ip_per_minute: 3 } } });
  try {
    for (let i = 0; i < 3; i++) {
      const c = await LineClient.connect(g.ports.plain!);
      assert.equal(await c.line(), "* OK gate test ready");
      assert.equal(await c.cmd("QUIT"), "OK bye");
    }
    assert.equal(await drain(g.ports.plain!), "* BYE refused rate\r\n");
  } finally {
    await g.stop();
  }
});

test("PROXY v1 from a trusted source sets the client address; rules apply to that address", async () => {
  const c = await LineClient.connect(h.ports.proxied!, { localAddress: "127.0.0.1" });
  c.send("PROXY TCP4 192.0.2.7 198.51.100.1 40000 587\r\n");
  assert.equal(await c.line(), "* OK gate test ready");
  const info = JSON.parse((await c.cmd("INFO"))!.slice(5)) as { remoteAddress: string; remotePort: number };
  assert.equal(info.remoteAddress, "192.0.2.7");
  assert.equal(info.remotePort, 40000);
  c.close();
  const ev = h.events("conn.proxy").find((e) => e.ip === "192.0.2.7");
  assert.equal(ev?.proxy, "127.0.0.1");
  assert.ok(h.events("conn.open").some((e) => e.ip === "192.0.2.7" && e.listener === "proxied"));

  // A ban on the real client address applies behind the proxy.
  await h.bans.ban("192.0.2.66", "test ban", 60_000);
  const out = await drain(h.ports.proxied!, { send: "PROXY TCP4 192.0.2.66 198.51.100.1 40000 587\r\n" });
  assert.equal(out, "* BYE refused banned\r\n");
});

test("PROXY header from an untrusted source is refused and logged, without a greeting", async () => {
  const out = await drain(h.ports.proxied!, { localAddress: "127.0.0.2", send: "PROXY TCP4 192.0.2.8 198.51.100.1 40000 587\r\n" });
  assert.equal(out, "");
  const ev = h.events("conn.proxy.refused").find((e) => e.ip === "127.0.0.2");
  assert.match(String(ev?.reason), /not in proxy\.trusted/);
  assert.ok(!h.events("conn.open").some((e) => e.ip === "192.0.2.8"));
});

test("a proxy listener refuses a trusted source without a header: garbage at once, silence after the timeout", async () => {
  assert.equal(await drain(h.ports.proxied!, { send: "ECHO no header\r\n" }), "");
  const started = Date.now();
  assert.equal(await drain(h.ports.proxied!), "");
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 500 && elapsed < 2500, `silent client dropped after ${elapsed} ms`);
  const reasons = h.events("conn.proxy.refused").map((e) => String(e.reason));
  assert.ok(reasons.some((r) => /invalid PROXY header/.test(r)));
  assert.ok(reasons.some((r) => /no PROXY header in time/.test(r)));
});

test("PROXY v2 with a command in the same write: nothing after the header is lost", async () => {
  const header = buildProxyV2({ command: "PROXY", source: { address: "2001:db8::42", port: 5555 }, destination: { address: "2001:db8::1", port: 587 } });
  const c = await LineClient.connect(h.ports.proxied!);
  c.send(Buffer.concat([header, Buffer.from("INFO\r\n")]));
  assert.equal(await c.line(), "* OK gate test ready");
  const info = JSON.parse((await c.line())!.slice(5)) as { remoteAddress: string; remotePort: number };
  assert.equal(info.remoteAddress, "2001:db8::42");
  assert.equal(info.remotePort, 5555);
  c.close();
  // LOCAL (a health check from the proxy): the proxy's own address counts.
  const l = await LineClient.connect(h.ports.proxied!);
  l.send(Buffer.concat([buildProxyV2({ command: "LOCAL" }), Buffer.from("INFO\r\n")]));
  assert.equal(await l.line(), "* OK gate test ready");
  assert.equal((JSON.parse((await l.line())!.slice(5)) as { remoteAddress: string }).remoteAddress, "127.0.0.1");
  l.close();
});

test("PROXY v2 then implicit TLS on the same connection", async () => {
  const raw = net.connect({ host: HOST, port: h.ports.proxiedtls! });
  await new Promise<void>((r) => raw.once("connect", () => r()));
  raw.write(buildProxyV2({ command: "PROXY", source: { address: "198.51.100.9", port: 6000 }, destination: { address: "198.51.100.1", port: 465 } }));
  await delay(20);
  const t = await new Promise<tls.TLSSocket>((resolve, reject) => {
    const s = tls.connect({ socket: raw, ca: h.cert, servername: "localhost" }, () => resolve(s));
    s.once("error", reject);
  });
  const c = LineClient.fromSocket(t);
  assert.equal(await c.line(), "* OK gate test ready");
  const info = JSON.parse((await c.cmd("INFO"))!.slice(5)) as { remoteAddress: string; secure: boolean };
  assert.equal(info.remoteAddress, "198.51.100.9");
  assert.equal(info.secure, true);
  c.close();
});
