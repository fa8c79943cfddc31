import { test } from "node:test";
import assert from "node:assert/strict";
import { configSchema } from "../config/schema.js";
import { Limiter, clientKey } from "./limiter.js";
import { FakeClock } from "./testing.js";
import type { Admission } from "./types.js";

function limiter(limits: Record<string, unknown>, clock = new FakeClock(), maxTrackedClients?: number) {
  const config = configSchema.parse({ server: { hostname: "mail.example.test" }, limits });
  return new Limiter({ limits: config.limits, now: clock.now, ...(maxTrackedClients ? { maxTrackedClients } : {}) });
}

function ok(a: Admission): () => void {
  assert.equal(a.ok, true, JSON.stringify(a));
  if (!a.ok) throw new Error("refused");
  return a.release;
}

test("clientKey: IPv4 address, IPv6 /64, mapped IPv4 as IPv4", () => {
  assert.equal(clientKey("192.0.2.1"), "192.0.2.1/32");
  assert.equal(clientKey("::ffff:192.0.2.1"), "192.0.2.1/32");
  assert.equal(clientKey("2001:db8:1:2::1"), "2001:db8:1:2::/64");
  assert.equal(clientKey("2001:db8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::/64");
  assert.equal(clientKey("junk"), "?junk");
});

test("total connections are limited and released", () => {
  const l = limiter({ max_connections: 3, max_connections_per_ip: 10 });
  const r1 = ok(l.admit("192.0.2.1"));
  ok(l.admit("192.0.2.2"));
  ok(l.admit("2001:db8::1"));
  assert.equal(l.active, 3);
  assert.deepEqual(l.admit("192.0.2.4"), { ok: false, reason: "too-many-connections" });
  r1();
  assert.equal(l.active, 2);
  ok(l.admit("192.0.2.4"));
  assert.equal(l.active, 3);
});

test("per-IP limit; IPv6 is counted per /64, mapped IPv4 as IPv4", () => {
  const l = limiter({ max_connections_per_ip: 2 });
  ok(l.admit("192.0.2.1"));
  ok(l.admit("::ffff:192.0.2.1"));
  assert.deepEqual(l.admit("192.0.2.1"), { ok: false, reason: "too-many-connections" });
  ok(l.admit("192.0.2.2")); // another address is another client

  ok(l.admit("2001:db8:1:2::1"));
  ok(l.admit("2001:db8:1:2::2"));
  assert.deepEqual(l.admit("2001:db8:1:2:abcd::9"), { ok: false, reason: "too-many-connections" }, "same /64");
  ok(l.admit("2001:db8:1:3::1")); // another /64
  assert.equal(l.connectionsOf("2001:db8:1:2::77"), 2);
});

test("release functions are idempotent", () => {
  const l = limiter({ max_connections_per_ip: 2 });
  const r1 = ok(l.admit("192.0.2.1"));
  const r2 = ok(l.admit("192.0.2.1"));
  r1();
  r1();
  r1();
  assert.equal(l.active, 1);
  assert.equal(l.connectionsOf("192.0.2.1"), 1);
  const r3 = ok(l.admit("192.0.2.1"));
  assert.deepEqual(l.admit("192.0.2.1"), { ok: false, reason: "too-many-connections" }, "a repeated release freed nothing extra");
  r2();
  r3();
  r3();
  assert.equal(l.active, 0);
  assert.equal(l.connectionsOf("192.0.2.1"), 0);
});

test("new connections per IP per minute: refused beyond the limit, refilled over time", () => {
  const clock = new FakeClock();
  const l = limiter({ max_new_connections_per_ip_per_minute: 6, max_connections_per_ip: 100 }, clock);
  for (let i = 0; i < 6; i++) ok(l.admit("192.0.2.1"))();
  assert.deepEqual(l.admit("192.0.2.1"), { ok: false, reason: "rate" });
  assert.deepEqual(l.admit("::ffff:192.0.2.1"), { ok: false, reason: "rate" });
  ok(l.admit("192.0.2.2")); // others are not affected
  clock.advance(10_000); // 6 per minute: one token every 10 s
  ok(l.admit("192.0.2.1"))();
  assert.deepEqual(l.admit("192.0.2.1"), { ok: false, reason: "rate" });
  clock.advance(60_000);
  for (let i = 0; i < 6; i++) ok(l.admit("192.0.2.1"))();
  assert.deepEqual(l.admit("192.0.2.1"), { ok: false, reason: "rate" });
});

test("the rate counts an IPv6 /64 as one client", () => {
  const l = limiter({ max_new_connections_per_ip_per_minute: 3, max_connections_per_ip: 100 });
  ok(l.admit("2001:db8::1"))();
  ok(l.admit("2001:db8::2"))();
  ok(l.admit("2001:db8::3"))();
  assert.deepEqual(l.admit("2001:db8::4"), { ok: false, reason: "rate" });
  ok(l.admit("2001:db8:0:1::4"))();
});

test("memory: idle rate buckets are dropped, and at most maxTrackedClients are kept", () => {
  const clock = new FakeClock();
  const l = limiter({ max_new_connections_per_ip_per_minute: 2 }, clock, 1000);
  for (let i = 0; i < 5000; i++) {
    ok(l.admit(`10.0.${i >> 8}.${i & 255}`))();
    assert.ok(l.trackedClients <= 1000);
  }
  assert.equal(l.trackedClients, 1000);
  clock.advance(60_000);
  ok(l.admit("192.0.2.1"))();
  assert.equal(l.trackedClients, 1, "buckets idle for a minute are gone");
});

test("account session slots: claimed up to the limit, released idempotently", () => {
  const l = limiter({ max_sessions_per_account: 2 });
  const a = l.claimAccount(7);
  const b = l.claimAccount(7);
  assert.ok(a && b);
  assert.equal(l.claimAccount(7), null);
  assert.ok(l.claimAccount(8), "other accounts are separate");
  a();
  a();
  assert.equal(l.sessionsOf(7), 1);
  const c = l.claimAccount(7);
  assert.ok(c);
  assert.equal(l.claimAccount(7), null);
  b();
  c();
  assert.equal(l.sessionsOf(7), 0);
});
