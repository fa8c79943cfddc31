import { test } from "node:test";
import assert from "node:assert/strict";
import { configSchema } from "../config/schema.js";
import { PersistentBanList } from "./bans.js";
import { ACCOUNT_DELAY_MAX_MS, ACCOUNT_DELAY_MIN_MS, PAIR_REFUSE, SlidingThrottle } from "./throttle.js";
import { FakeClock, MemoryBanStore, captureLog } from "./testing.js";
import type { ThrottleVerdict } from "./types.js";

const MINUTE = 60_000;

async function setup(auth: Record<string, unknown> = {}, maxKeys?: number) {
  const config = configSchema.parse({ server: { hostname: "mail.example.test" }, auth });
  const clock = new FakeClock();
  const store = new MemoryBanStore();
  const cap = captureLog();
  const bans = await PersistentBanList.load({ store, auth: config.auth, log: cap.log, now: clock.now });
  const throttle = new SlidingThrottle({ auth: config.auth, bans, now: clock.now, log: cap.log, ...(maxKeys ? { maxKeys } : {}) });
  return { throttle, bans, store, clock, config, ...cap };
}

function delay(v: ThrottleVerdict): number {
  assert.equal(v.action, "proceed", JSON.stringify(v));
  return v.action === "proceed" ? v.delayMs : -1;
}

test("the delay grows with the client's recent failures: 0, then 250 ms doubling, capped at 5 s", async () => {
  const { throttle } = await setup({ max_failures_per_ip: 100, max_failures_per_network: 1000 });
  const seen: number[] = [delay(throttle.before("192.0.2.1", "alice"))];
  for (let i = 0; i < 8; i++) {
    assert.deepEqual(await throttle.failure("192.0.2.1", "alice"), { banned: false });
    seen.push(delay(throttle.before("192.0.2.1", "alice")));
  }
  assert.deepEqual(seen, [0, 250, 500, 1000, 2000, 4000, 5000, 5000, 5000]);
  assert.equal(delay(throttle.before("192.0.2.77", "alice")) < 250, true, "another address of the /24 is barely slowed");
  assert.equal(delay(throttle.before("198.51.100.1", "alice")), 0, "an unrelated client is not slowed");
});

test("failures slide out of the window", async () => {
  const { throttle, clock } = await setup({ failure_window: "15m" });
  await throttle.failure("192.0.2.1", "alice");
  clock.advance(10 * MINUTE);
  await throttle.failure("192.0.2.1", "alice");
  assert.equal(delay(throttle.before("192.0.2.1", "alice")), 500);
  clock.advance(5 * MINUTE);
  assert.equal(delay(throttle.before("192.0.2.1", "alice")), 250);
  clock.advance(10 * MINUTE);
  assert.equal(delay(throttle.before("192.0.2.1", "alice")), 0);
  assert.deepEqual(throttle.sizes(), { clients: 0, networks: 0, accounts: 0 }, "expired counters are dropped");
});

test("the client is banned when it reaches max_failures_per_ip, and then refused", async () => {
  const { throttle, bans, store, events } = await setup({ max_failures_per_ip: 3, ban_duration: "1h" });
  assert.deepEqual(await throttle.failure("192.0.2.1", "alice"), { banned: false });
  assert.deepEqual(await throttle.failure("::ffff:192.0.2.1", "bob"), { banned: false });
  assert.deepEqual(await throttle.failure("192.0.2.1", "carol"), { banned: true });
  assert.equal(bans.find("192.0.2.1")?.reason, "auth failures");
  assert.equal(store.rows.get("192.0.2.1")?.offences, 1);
  assert.deepEqual(throttle.before("192.0.2.1", "alice"), { action: "refuse", reason: "banned", retryAfterMs: 3_600_000 });
  assert.equal(throttle.before("192.0.2.2", "alice").action, "proceed", "its neighbour is not banned");
  const added = events("ban.added");
  assert.equal(added.length, 1);
  assert.equal(added[0]!.subject, "192.0.2.1");
});

test("IPv6: the addresses of one /64 are one client, and the /64 is banned", async () => {
  const { throttle, bans } = await setup({ max_failures_per_ip: 3 });
  await throttle.failure("2001:db8:1:2::1", "alice");
  assert.equal(delay(throttle.before("2001:db8:1:2::ffff", "alice")), 250, "a new address in the /64 has the same delay");
  await throttle.failure("2001:db8:1:2::2", "alice");
  assert.deepEqual(await throttle.failure("2001:db8:1:2:aaaa::3", "alice"), { banned: true });
  assert.equal(bans.find("2001:db8:1:2:1234::1")?.subject, "2001:db8:1:2::/64");
  assert.equal(bans.find("2001:db8:1:3::1"), null);
  assert.equal(throttle.before("2001:db8:1:2::99", "alice").action, "refuse");
});

test("a network is banned when it reaches max_failures_per_network (IPv4 /24, IPv6 /48)", async () => {
  const { throttle, bans } = await setup({ max_failures_per_ip: 100, max_failures_per_network: 5 });
  for (let i = 1; i <= 4; i++) assert.deepEqual(await throttle.failure(`203.0.113.${i}`, "alice"), { banned: false });
  assert.ok(delay(throttle.before("203.0.113.200", "alice")) > 0, "the network's failures slow its other clients");
  assert.deepEqual(await throttle.failure("203.0.113.5", "alice"), { banned: true });
  assert.equal(bans.find("203.0.113.99")?.subject, "203.0.113.0/24");
  assert.equal(bans.find("203.0.113.99")?.reason, "auth failures (network)");
  assert.deepEqual(throttle.before("203.0.113.250", "bob").action, "refuse");
  assert.equal(bans.find("203.0.112.1"), null);

  for (let i = 1; i <= 5; i++) await throttle.failure(`2001:db8:77:${i}::1`, "alice");
  assert.equal(bans.find("2001:db8:77:ffff::1")?.subject, "2001:db8:77::/48");
  assert.equal(bans.find("2001:db8:78::1"), null);
});

test("an account under attack from many clients is slowed for everyone but never refused for a clean client", async () => {
  const { throttle } = await setup({ max_failures_per_account: 5, max_failures_per_ip: 100, max_failures_per_network: 1000 });
  // One failure each from many different networks, against "Alice" in various spellings.
  for (let i = 0; i < 4; i++) await throttle.failure(`10.${i}.0.1`, i % 2 ? "ALICE" : "alice");
  assert.equal(delay(throttle.before("192.0.2.1", "alice")), 0, "below the account threshold");
  await throttle.failure("10.4.0.1", "Alice");
  assert.equal(throttle.failuresOfAccount("aLiCe"), 5);
  assert.equal(delay(throttle.before("192.0.2.1", "alice")), ACCOUNT_DELAY_MIN_MS);
  assert.equal(delay(throttle.before("192.0.2.1", "bob")), 0, "other accounts are not slowed");
  for (let i = 5; i < 1000; i++) await throttle.failure(`10.${i >> 8}.${i & 255}.1`, "alice");
  // However many failures, the owner on a clean address is only slowed, within the 1–3 s band.
  const d = delay(throttle.before("192.0.2.1", "alice"));
  assert.equal(d, ACCOUNT_DELAY_MAX_MS);
  assert.equal(delay(throttle.before("2001:db8::1", "ALICE")), ACCOUNT_DELAY_MAX_MS);
});

test("under attack, a client that keeps failing against the account is refused (only for that account)", async () => {
  const { throttle, clock, config } = await setup({ max_failures_per_account: 5, max_failures_per_ip: 100 });
  for (let i = 0; i < 5; i++) await throttle.failure(`10.${i}.0.1`, "alice");
  for (let i = 0; i < PAIR_REFUSE - 1; i++) {
    await throttle.failure("198.51.100.7", "alice");
    clock.advance(1000);
  }
  assert.equal(throttle.before("198.51.100.7", "alice").action, "proceed");
  await throttle.failure("198.51.100.7", "alice");
  const v = throttle.before("198.51.100.7", "alice");
  assert.equal(v.action, "refuse");
  assert.equal(v.action === "refuse" && v.reason, "throttled");
  // Until the oldest of its own failures against alice leaves the window.
  assert.equal(v.action === "refuse" && v.retryAfterMs, config.auth.failure_window - (PAIR_REFUSE - 1) * 1000);
  assert.equal(throttle.before("198.51.100.7", "bob").action, "proceed", "other accounts stay open to it");
  assert.equal(throttle.before("198.51.100.8", "alice").action, "proceed", "a clean neighbour is not refused");
});

test("success() clears that client's failures for that account only", async () => {
  const { throttle } = await setup({ max_failures_per_account: 3, max_failures_per_ip: 100 });
  for (let i = 0; i < 3; i++) await throttle.failure("192.0.2.1", "alice");
  await throttle.failure("192.0.2.1", "bob");
  await throttle.failure("198.51.100.2", "alice");
  assert.equal(throttle.failuresOf("192.0.2.1"), 4);
  assert.equal(throttle.failuresOfAccount("alice"), 4);
  throttle.success("192.0.2.1", "ALICE");
  assert.equal(throttle.failuresOf("192.0.2.1"), 1, "bob's failure from this client remains");
  assert.equal(throttle.failuresOfAccount("alice"), 1, "the other client's failure against alice remains");
  assert.equal(delay(throttle.before("192.0.2.1", "alice")), 250);
  throttle.success("192.0.2.1", "bob");
  assert.equal(delay(throttle.before("192.0.2.1", "alice")), 0);
});

test("auth.never_ban clients are slowed but never banned", async () => {
  const { throttle, bans } = await setup({ max_failures_per_ip: 3, max_failures_per_network: 4, never_ban: ["192.0.2.0/24"] });
  for (let i = 0; i < 10; i++) assert.deepEqual(await throttle.failure("192.0.2.1", "alice"), { banned: false });
  assert.equal(bans.list().length, 0);
  assert.equal(delay(throttle.before("192.0.2.1", "alice")), 5000);
});

test("a ban expiry starts the client afresh, and a repeat offence is banned twice as long", async () => {
  const { throttle, bans, clock } = await setup({ max_failures_per_ip: 2, ban_duration: "10m", failure_window: "15m" });
  await throttle.failure("192.0.2.1", "alice");
  assert.deepEqual(await throttle.failure("192.0.2.1", "alice"), { banned: true });
  clock.advance(10 * MINUTE);
  assert.equal(throttle.failuresOf("192.0.2.1"), 0, "expired ban, counter reset at the ban");
  assert.ok(delay(throttle.before("192.0.2.1", "alice")) < 250, "only the /24's memory of it remains");
  assert.deepEqual(await throttle.failure("192.0.2.1", "alice"), { banned: false });
  assert.deepEqual(await throttle.failure("192.0.2.1", "alice"), { banned: true });
  assert.equal(bans.find("192.0.2.1")?.expiresAt?.getTime(), clock.t + 20 * MINUTE);
});

test("memory stays bounded under a spray from many clients and usernames", async () => {
  const { throttle, clock } = await setup({ max_failures_per_ip: 1000, max_failures_per_network: 100_000 }, 200);
  for (let i = 0; i < 3000; i++) {
    await throttle.failure(`2001:db8:${(i % 7).toString(16)}:${i.toString(16)}::1`, `user${i}@example.test`);
    await throttle.failure(`10.${i >> 8}.${i & 255}.1`, "x".repeat(10_000));
  }
  const s = throttle.sizes();
  assert.ok(s.clients <= 200 && s.networks <= 200 && s.accounts <= 200, JSON.stringify(s));
  clock.advance(16 * MINUTE);
  await throttle.failure("192.0.2.1", "alice");
  assert.deepEqual(throttle.sizes(), { clients: 1, networks: 1, accounts: 1 });
});

test("an unparsable client address is counted, not thrown on, and never banned", async () => {
  const { throttle, bans } = await setup({ max_failures_per_ip: 2 });
  for (let i = 0; i < 3; i++) assert.deepEqual(await throttle.failure("bogus", "alice"), { banned: false });
  assert.ok(delay(throttle.before("bogus", "alice")) > 0);
  assert.equal(bans.list().length, 0);
});

test("once the only attacker of a network is banned, its neighbours are no longer slowed; its failures still count toward a network ban", async () => {
  const { throttle, bans } = await setup({ max_failures_per_ip: 5, max_failures_per_network: 12 });
  for (let i = 0; i < 4; i++) await throttle.failure("198.51.100.66", "alice");
  assert.ok(delay(throttle.before("198.51.100.7", "carol")) > 0, "while the attacker is not banned, its network waits");
  assert.deepEqual(await throttle.failure("198.51.100.66", "alice"), { banned: true });
  assert.equal(delay(throttle.before("198.51.100.7", "carol")), 0, "the attacker is banned: its neighbour logs in at once");
  assert.equal(throttle.before("198.51.100.66", "alice").action, "refuse");
  // A second attacker in the same /24: its failures and the banned one's reach the network's threshold.
  for (let i = 0; i < 4; i++) await throttle.failure("198.51.100.67", "alice");
  assert.ok(delay(throttle.before("198.51.100.7", "carol")) > 0, "an unbanned attacker slows the network again");
  for (let i = 0; i < 3; i++) await throttle.failure("198.51.100.68", "alice");
  assert.equal(bans.find("198.51.100.7")?.subject, "198.51.100.0/24", "5 + 4 + 3 failures: the network is banned");
});
