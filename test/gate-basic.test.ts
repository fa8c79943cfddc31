// The gate end to end over plain TCP: framing, limits, timeouts, output backpressure, errors in
// sessions, shutdown.

import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { startGate, LineClient, until, delay, HOST, type GateHarness } from "./fixtures/gate-harness.js";
import { OUTPUT_HIGH_WATER } from "../src/net/limits.js";

let h: GateHarness;

before(async () => {
  h = await startGate({
    config: { limits: { command_line_timeout: "1s", preauth_timeout: "2s" } },
    timings: { outputStallTimeoutMs: 1500 },
    authIdleMs: 600,
  });
});
after(() => h.stop());

test("greeting, pipelined commands in one write, bare LF reported, QUIT; conn.open/conn.close logged", async () => {
  const c = await LineClient.connect(h.ports.plain!);
  assert.equal(await c.line(), "* OK gate test ready");
  c.send("ECHO one\r\nECHO two\nECHO three\r\nQUIT\r\n");
  assert.equal(await c.line(), "ECHO one");
  assert.equal(await c.line(), "ECHO two (bare LF)");
  assert.equal(await c.line(), "ECHO three");
  assert.equal(await c.line(), "OK bye");
  assert.equal(await c.line(), null, "the server closes after QUIT");
  await until(() => h.events("conn.close").length >= 1);
  const close = h.events("conn.close").at(-1)!;
  assert.equal(close.ip, "127.0.0.1");
  assert.equal(close.listener, "plain");
  assert.equal(typeof close.durationMs, "number");
  assert.equal(close.bytesIn, "ECHO one\r\nECHO two\nECHO three\r\nQUIT\r\n".length);
  assert.ok((close.bytesOut as number) > 40);
  assert.ok(h.events("conn.open").some((e) => e.conn === close.conn));
});

test("an over-long line is refused and the connection closed, while a second client is served normally", async () => {
  const bad = await LineClient.connect(h.ports.plain!);
  const good = await LineClient.connect(h.ports.plain!);
  assert.equal(await bad.line(), "* OK gate test ready");
  assert.equal(await good.line(), "* OK gate test ready");
  // The test protocol's limit is 100 octets: send 5000 a's (seed 001) without a line end.
  bad.send("PASS " + "a".repeat(5000));
  assert.equal(await bad.line(), "BAD line too long");
  assert.equal(await bad.line(), null);
  assert.equal(await good.cmd("ECHO still here"), "ECHO still here");
  assert.equal(await good.cmd("QUIT"), "OK bye");
  const ev = h.events("input.too_long");
  assert.ok(ev.length >= 1);
  assert.equal(ev.at(-1)!.ip, "127.0.0.1");
});

test("a client sending NUL and 8-bit bytes gets them passed through to the protocol", async () => {
  const c = await LineClient.connect(h.ports.plain!);
  await c.line();
  c.send(Buffer.from([0x45, 0x43, 0x48, 0x4f, 0x20, 0x61, 0x00, 0xe9, 0x0d, 0x0a])); // "ECHO a\0é\r\n"
  assert.equal(await c.line(), "ECHO a\0\xe9");
  c.close();
});

test("slow drip: a command line not finished within command_line_timeout is cut off", async () => {
  const c = await LineClient.connect(h.ports.plain!);
  await c.line();
  const started = Date.now();
  let stop = false;
  // One byte every 200 ms: never idle for long, but the line never ends in time.
  void (async () => {
    for (let i = 0; i < 40 && !stop && !c.ended; i++) {
      c.send("E");
      await delay(200);
    }
  })();
  const reply = await c.line(5000);
  stop = true;
  const elapsed = Date.now() - started;
  assert.match(reply ?? "", /^BYE timeout: command line not completed in time/);
  assert.ok(elapsed >= 900 && elapsed < 2500, `cut off after ${elapsed} ms`);
  assert.equal(await c.line(), null);
  assert.ok(h.events("input.timeout").some((e) => /command line/.test(String(e.reason))));
});

test("idle timeout before login (preauth_timeout) and the protocol's own after login", async () => {
  const c = await LineClient.connect(h.ports.insecure!);
  await c.line();
  let started = Date.now();
  assert.match((await c.line(4000)) ?? "", /^BYE timeout: idle timeout/);
  let elapsed = Date.now() - started;
  assert.ok(elapsed >= 1900 && elapsed < 3500, `preauth idle cut after ${elapsed} ms`);

  // After LOGIN (allowed on this loopback listener with allow_insecure_auth) the idle timeout is
  // the protocol's: 600 ms in this test.
  const d = await LineClient.connect(h.ports.insecure!);
  await d.line();
  assert.equal(await d.cmd("LOGIN"), "OK logged in");
  started = Date.now();
  assert.match((await d.line(4000)) ?? "", /^BYE timeout: idle timeout/);
  elapsed = Date.now() - started;
  assert.ok(elapsed >= 500 && elapsed < 1500, `authenticated idle cut after ${elapsed} ms`);
});

test("password login is refused without TLS on a normal listener", async () => {
  const c = await LineClient.connect(h.ports.plain!);
  await c.line();
  assert.equal(await c.cmd("LOGIN"), "NO encryption required");
  c.close();
});

test("a client that does not read cannot make the server buffer without bound; it is cut off when it stalls", async () => {
  const before = h.sessions.length;
  const s = net.connect({ host: HOST, port: h.ports.plain! });
  s.on("error", () => {});
  await new Promise<void>((r) => s.once("connect", () => r()));
  s.pause(); // read nothing, ever
  s.write("FLOOD 2000\r\n"); // 2000 x 64 KB = 125 MB asked for
  await until(() => h.sessions.length > before, 3000, "session");
  const rec = h.sessions.at(-1)!;
  let maxQueued = 0;
  const sampler = setInterval(() => (maxQueued = Math.max(maxQueued, rec.conn.outputBuffered)), 5);
  await until(() => rec.conn.closed, 8000, "stalled client to be disconnected");
  clearInterval(sampler);
  assert.ok(rec.flooded < 40 * 1024 * 1024, `the session pushed only ${rec.flooded} octets (kernel buffers + high water)`);
  assert.ok(maxQueued <= OUTPUT_HIGH_WATER + 64 * 1024, `server-side queue peaked at ${maxQueued}`);
  assert.ok(h.events("limit.hit").some((e) => e.limit === "output-stall"));
  s.destroy();
});

test("a client that reads gets all of a large output (the writer waits on drain along the way)", async () => {
  const c = await LineClient.connect(h.ports.plain!);
  await c.line();
  c.send("FLOOD 40\r\n");
  // The client reads everything (2.5 MB); the writer waited on drain along the way.
  const deadline = Date.now() + 10_000;
  let got = "";
  for (;;) {
    const l = await c.line(Math.max(1, deadline - Date.now()));
    if (l === null) break;
    got = l;
    if (l === "OK flooded") break;
  }
  assert.equal(got, "OK flooded");
  c.close();
});

test("a session that throws is logged and closed; the server keeps serving", async () => {
  const c = await LineClient.connect(h.ports.plain!);
  await c.line();
  c.send("CRASH\r\n");
  assert.equal(await c.line(), null);
  assert.ok(h.events("session.error").some((e) => e.error === "handler crashed on purpose"));
  const d = await LineClient.connect(h.ports.plain!);
  assert.equal(await d.line(), "* OK gate test ready");
  assert.equal(await d.cmd("QUIT"), "OK bye");
});

test("a client that talks before the greeting: its input is buffered for the protocol to see", async () => {
  const s = net.connect({ host: HOST, port: h.ports.plain! });
  s.write("ECHO early\r\n");
  const c = await new Promise<string>((resolve) => {
    let buf = "";
    s.setEncoding("latin1");
    s.on("data", (d: string) => {
      buf += d;
      if (buf.includes("ECHO early\r\n")) resolve(buf);
    });
  });
  assert.equal(c, "* OK gate test ready\r\nECHO early\r\n");
  s.destroy();
});

test("limiter slots are released exactly once per connection", async () => {
  await until(() => h.limiter.active === 0, 5000, "all connections to close");
  assert.equal(h.limiter.doubleReleases, 0);
  assert.equal(h.limiter.releases, h.events("conn.close").length, "one release per closed connection");
});

test("stop(): sessions waiting for a command are told goodbye; stuck ones are destroyed at the deadline", async () => {
  const g = await startGate();
  const idle = await LineClient.connect(g.ports.plain!);
  await idle.line();
  const stuck = await LineClient.connect(g.ports.plain!);
  await stuck.line();
  stuck.send("ECHO half a line"); // mid-line: not interrupted, destroyed at the deadline
  await delay(50);
  const started = Date.now();
  await g.stop(1500);
  const elapsed = Date.now() - started;
  assert.equal(await idle.line(), "BYE shutting down");
  assert.equal(await stuck.line(), null);
  assert.ok(elapsed >= 1400 && elapsed < 3000, `stop took ${elapsed} ms`);
  assert.ok(g.sessions.every((s) => s.conn.closed));
  await assert.rejects(LineClient.connect(g.ports.plain!), "no longer accepting");
});

test("stop(): a session stuck on something other than its connection does not hold the shutdown past the deadline", async () => {
  const g = await startGate();
  const c = await LineClient.connect(g.ports.plain!);
  await c.line();
  assert.equal(await c.cmd("HANG"), "OK hanging");
  const started = Date.now();
  await g.stop(500);
  const elapsed = Date.now() - started;
  assert.ok(elapsed < 2000, `stop took ${elapsed} ms`);
  assert.equal(await c.line(), null);
  assert.equal(g.limiter.active, 0, "its slot was released with the socket");
});

test("a client that talks before the greeting: the protocol sees it in conn.buffered", async () => {
  const g = await startGate({ greetDelayMs: 300 });
  try {
    const s = net.connect({ host: HOST, port: g.ports.plain! });
    s.on("error", () => {});
    s.write("EHLO impatient\r\n");
    await until(() => g.sessions.length === 1 && g.sessions[0]!.bufferedAtGreeting > 0, 3000, "greeting");
    assert.equal(g.sessions[0]!.bufferedAtGreeting, "EHLO impatient\r\n".length);
    s.destroy();
  } finally {
    await g.stop();
  }
});
