// The ban list over the real (SQLite) store: bans, their offences and expiry survive a restart.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { configSchema } from "../config/schema.js";
import { openStore } from "../store/index.js";
import { createPolicy } from "./index.js";
import { FakeClock, captureLog } from "./testing.js";

const HOUR = 3_600_000;

test("bans persist in the SQLite store across restarts, with growing periods", async () => {
  const dir = await mkdtemp(join(tmpdir(), "portcullis-policy-"));
  try {
    const config = configSchema.parse({ server: { hostname: "mail.example.test" }, auth: { ban_duration: "1h", max_failures_per_ip: 3 } });
    const clock = new FakeClock(Date.now());
    const { log } = captureLog();

    let store = await openStore(dir, { log });
    let policy = await createPolicy({ config, store, log, now: clock.now });
    for (let i = 0; i < 3; i++) await policy.throttle.failure("::ffff:192.0.2.7", "alice");
    await policy.bans.ban("2001:db8:1:2::/64", "manual", null);
    await store.close();

    store = await openStore(dir, { log });
    policy = await createPolicy({ config, store, log, now: clock.now });
    const ban = policy.bans.find("192.0.2.7");
    assert.equal(ban?.subject, "192.0.2.7");
    assert.equal(ban?.reason, "auth failures");
    assert.equal(ban?.offences, 1);
    assert.equal(ban?.expiresAt?.getTime(), clock.t + HOUR);
    assert.equal(policy.bans.find("2001:db8:1:2::5")?.expiresAt, null);

    // After expiry and a restart, the next ban is the second offence: two hours.
    clock.advance(HOUR + 1);
    await store.close();
    store = await openStore(dir, { log });
    policy = await createPolicy({ config, store, log, now: clock.now });
    assert.equal(policy.bans.find("192.0.2.7"), null);
    for (let i = 0; i < 3; i++) await policy.throttle.failure("192.0.2.7", "alice");
    assert.equal(policy.bans.find("192.0.2.7")?.offences, 2);
    assert.equal(policy.bans.find("192.0.2.7")?.expiresAt?.getTime(), clock.t + 2 * HOUR);

    // Lifting through another BanList over the same database is seen by refresh().
    const other = await createPolicy({ config, store, log, now: clock.now });
    assert.equal(await other.bans.lift("2001:db8:1:2::/64"), true);
    assert.ok(policy.bans.find("2001:db8:1:2::5"));
    await policy.bans.refresh();
    assert.equal(policy.bans.find("2001:db8:1:2::5"), null);
    await store.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
