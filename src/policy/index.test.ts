import { test } from "node:test";
import assert from "node:assert/strict";
import { configSchema } from "../config/schema.js";
import { createPolicy } from "./index.js";
import { AddressError } from "./cidr.js";
import { FakeClock, MemoryBanStore, captureLog } from "./testing.js";

function config(raw: Record<string, unknown> = {}) {
  return configSchema.parse({ server: { hostname: "mail.example.test" }, ...raw });
}

test("createPolicy wires access, bans, limiter and throttle; bans persist across a restart", async () => {
  const store = new MemoryBanStore();
  const clock = new FakeClock();
  const { log, events } = captureLog();
  const cfg = config({ access: { deny: ["198.51.100.0/24"] }, auth: { max_failures_per_ip: 2 }, limits: { max_connections_per_ip: 1 } });
  const p = await createPolicy({ config: cfg, store, log, now: clock.now });

  assert.deepEqual(p.access.check("smtp", "198.51.100.1"), { allowed: false, rule: "deny 198.51.100.0/24 (global)" });
  const a = p.limiter.admit("192.0.2.1");
  assert.equal(a.ok, true);
  assert.deepEqual(p.limiter.admit("192.0.2.1"), { ok: false, reason: "too-many-connections" });
  assert.equal(p.limiter.active, 1);

  await p.throttle.failure("192.0.2.1", "alice");
  assert.deepEqual(await p.throttle.failure("192.0.2.1", "alice"), { banned: true });
  assert.equal(p.bans.find("192.0.2.1")?.reason, "auth failures");
  assert.equal(events("ban.added").length, 1);

  const again = await createPolicy({ config: cfg, store, log, now: clock.now });
  assert.equal(again.bans.find("192.0.2.1")?.reason, "auth failures", "loaded from the store");
  assert.equal(again.throttle.before("192.0.2.1", "alice").action, "refuse");

  // The CLI deletes the ban in the store; refresh() makes it take effect.
  await store.deleteBan("192.0.2.1");
  await again.bans.refresh();
  assert.equal(again.bans.find("192.0.2.1"), null);
  assert.equal(again.throttle.before("192.0.2.1", "alice").action, "proceed");
});

test("createPolicy refuses a bad access rule or never_ban entry at start-up", async () => {
  const { log } = captureLog();
  await assert.rejects(createPolicy({ config: config({ access: { listener: { imap: { allow: ["10.0.0.256"] } } } }), store: new MemoryBanStore(), log }), (err: unknown) => {
    assert.ok(err instanceof AddressError);
    assert.match(err.message, /access\.listener\.imap\.allow\[0\]/);
    return true;
  });
  await assert.rejects(createPolicy({ config: config({ auth: { never_ban: ["::1::"] } }), store: new MemoryBanStore(), log }), /auth\.never_ban\[0\]/);
});
