import { test } from "node:test";
import assert from "node:assert/strict";
import { configSchema } from "../config/schema.js";
import { PersistentBanList } from "./bans.js";
import { AddressError } from "./cidr.js";
import { FakeClock, MemoryBanStore, captureLog } from "./testing.js";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function authConfig(auth: Record<string, unknown> = {}) {
  return configSchema.parse({ server: { hostname: "mail.example.test" }, auth }).auth;
}

async function setup(auth: Record<string, unknown> = {}, store = new MemoryBanStore(), clock = new FakeClock()) {
  const cap = captureLog();
  const bans = await PersistentBanList.load({ store, auth: authConfig(auth), log: cap.log, now: clock.now });
  return { bans, store, clock, ...cap };
}

test("an address ban is found for that address only, in any spelling", async () => {
  const { bans, store, events } = await setup();
  const ban = await bans.ban("192.0.2.7", "auth failures");
  assert.ok(ban);
  assert.equal(ban.subject, "192.0.2.7");
  assert.equal(ban.reason, "auth failures");
  assert.equal(ban.offences, 1);
  assert.equal(bans.find("192.0.2.7")?.subject, "192.0.2.7");
  assert.equal(bans.find("::ffff:192.0.2.7")?.subject, "192.0.2.7");
  assert.equal(bans.find("192.0.2.8"), null);
  assert.equal(bans.find("not an ip"), null);
  assert.deepEqual([...store.rows.keys()], ["192.0.2.7"]);
  const added = events("ban.added");
  assert.equal(added.length, 1);
  assert.equal(added[0]!.subject, "192.0.2.7");
  assert.equal(added[0]!.reason, "auth failures");
  assert.equal(added[0]!.level, "warn");
});

test("a mapped IPv6 subject is stored as IPv4; network bans cover their members", async () => {
  const { bans, store } = await setup();
  assert.equal((await bans.ban("::ffff:198.51.100.9", "manual"))?.subject, "198.51.100.9");
  await bans.ban("203.0.113.0/24", "auth failures (network)");
  await bans.ban("2001:DB8:1:2::/64", "auth failures");
  assert.equal(bans.find("203.0.113.200")?.subject, "203.0.113.0/24");
  assert.equal(bans.find("::ffff:203.0.113.1")?.subject, "203.0.113.0/24");
  assert.equal(bans.find("203.0.114.1"), null);
  assert.equal(bans.find("2001:db8:1:2:dead:beef::1")?.subject, "2001:db8:1:2::/64");
  assert.equal(bans.find("2001:db8:1:3::1"), null);
  assert.deepEqual([...store.rows.keys()].sort(), ["198.51.100.9", "2001:db8:1:2::/64", "203.0.113.0/24"]);
  await assert.rejects(bans.ban("not-an-ip", "x"), AddressError);
  await assert.rejects(bans.ban("192.0.2.1", "x", 0), RangeError);
});

test("the most specific ban is reported", async () => {
  const { bans } = await setup();
  await bans.ban("203.0.113.0/24", "network");
  await bans.ban("203.0.113.5", "address");
  assert.equal(bans.find("203.0.113.5")?.reason, "address");
  assert.equal(bans.find("203.0.113.6")?.reason, "network");
});

test("ban periods double with each offence up to max_ban_duration, offences survive expiry", async () => {
  const { bans, clock } = await setup({ ban_duration: "1h", max_ban_duration: "5h" });
  const periods: number[] = [];
  for (let i = 0; i < 5; i++) {
    const ban = await bans.ban("192.0.2.7", "auth failures");
    assert.ok(ban?.expiresAt);
    assert.equal(ban.offences, i + 1);
    periods.push(ban.expiresAt.getTime() - clock.t);
    clock.advance(ban.expiresAt.getTime() - clock.t + 1); // let it expire
    assert.equal(bans.find("192.0.2.7"), null, "expired bans are ignored");
  }
  assert.deepEqual(periods, [1 * HOUR, 2 * HOUR, 4 * HOUR, 5 * HOUR, 5 * HOUR]);
});

test("banning an already banned subject is not a new offence; an explicit duration replaces it", async () => {
  const { bans, clock, events } = await setup({ ban_duration: "1h" });
  const first = await bans.ban("192.0.2.7", "auth failures");
  const again = await bans.ban("192.0.2.7", "auth failures");
  assert.deepEqual(again, first);
  assert.equal(events("ban.added").length, 1);
  const manual = await bans.ban("192.0.2.7", "manual", 10 * DAY);
  assert.equal(manual?.offences, 1);
  assert.equal(manual?.expiresAt?.getTime(), clock.t + 10 * DAY);
  const permanent = await bans.ban("192.0.2.8", "manual", null);
  assert.equal(permanent?.expiresAt, null);
  clock.advance(1000 * DAY);
  assert.equal(bans.find("192.0.2.8")?.reason, "manual");
});

test("concurrent bans of one subject count one offence", async () => {
  const { bans, store } = await setup();
  const results = await Promise.all([1, 2, 3].map(() => bans.ban("192.0.2.7", "auth failures")));
  for (const r of results) assert.equal(r?.offences, 1);
  assert.equal(store.rows.get("192.0.2.7")?.offences, 1);
});

test("never_ban: addresses inside are never banned, not even by a wider network ban", async () => {
  const { bans, store } = await setup({ never_ban: ["192.0.2.0/28", "2001:db8:aaaa::/48"] });
  assert.equal(await bans.ban("192.0.2.5", "auth failures"), null);
  assert.equal(await bans.ban("192.0.2.0/29", "auth failures"), null);
  assert.equal(await bans.ban("2001:db8:aaaa:1::/64", "auth failures"), null);
  assert.equal(store.rows.size, 0);
  assert.ok(await bans.ban("192.0.2.0/24", "network"));
  assert.equal(bans.find("192.0.2.5"), null, "inside never_ban");
  assert.equal(bans.find("::ffff:192.0.2.5"), null, "inside never_ban (mapped)");
  assert.equal(bans.find("192.0.2.99")?.subject, "192.0.2.0/24");
});

test("expiry: expired bans are ignored, leave list(), and log ban.lifted once", async () => {
  const { bans, clock, events } = await setup({ ban_duration: "1h" });
  await bans.ban("192.0.2.7", "auth failures");
  await bans.ban("192.0.2.8", "manual", 3 * HOUR);
  assert.equal(bans.list().length, 2);
  clock.advance(HOUR - 1);
  assert.ok(bans.find("192.0.2.7"));
  clock.advance(1);
  assert.equal(bans.find("192.0.2.7"), null);
  assert.equal(bans.find("192.0.2.7"), null);
  assert.deepEqual(bans.list().map((b) => b.subject), ["192.0.2.8"]);
  const lifted = events("ban.lifted");
  assert.equal(lifted.length, 1);
  assert.equal(lifted[0]!.subject, "192.0.2.7");
  assert.equal(lifted[0]!.via, "expired");
});

test("persistence: a new BanList over the same store sees the bans and remembers offences", async () => {
  const store = new MemoryBanStore();
  const clock = new FakeClock();
  const a = await setup({ ban_duration: "1h", max_ban_duration: "7d" }, store, clock);
  await a.bans.ban("192.0.2.7", "auth failures");
  await a.bans.ban("2001:db8:1:2::/64", "auth failures");

  const b = await setup({ ban_duration: "1h", max_ban_duration: "7d" }, store, clock);
  assert.equal(b.bans.find("192.0.2.7")?.reason, "auth failures");
  assert.equal(b.bans.find("2001:db8:1:2::77")?.subject, "2001:db8:1:2::/64");
  assert.equal(b.bans.list().length, 2);
  assert.equal(b.events("ban.added").length, 0, "loading is not adding");

  // After expiry, a restart still knows the offence count: the next ban is twice as long.
  clock.advance(2 * HOUR);
  const c = await setup({ ban_duration: "1h", max_ban_duration: "7d" }, store, clock);
  assert.equal(c.bans.find("192.0.2.7"), null);
  const again = await c.bans.ban("192.0.2.7", "auth failures");
  assert.equal(again?.offences, 2);
  assert.equal(again?.expiresAt?.getTime(), clock.t + 2 * HOUR);
});

test("offences are forgotten once a ban has been expired for longer than max_ban_duration", async () => {
  const { bans, store, clock } = await setup({ ban_duration: "1h", max_ban_duration: "1d" });
  await bans.ban("192.0.2.7", "auth failures");
  clock.advance(HOUR + DAY);
  await bans.refresh();
  assert.equal(store.rows.size, 0);
  assert.equal((await bans.ban("192.0.2.7", "auth failures"))?.offences, 1);
});

test("refresh() picks up a deletion and an addition made by another process", async () => {
  const store = new MemoryBanStore();
  const clock = new FakeClock();
  const { bans, events } = await setup({}, store, clock);
  await bans.ban("192.0.2.7", "auth failures");
  await bans.ban("192.0.2.8", "auth failures");

  // `portcullis ban del 192.0.2.7` and `portcullis ban add 2001:db8::/48` from the CLI.
  assert.equal(await store.deleteBan("192.0.2.7"), true);
  await store.putBan({ subject: "2001:DB8::/48", reason: "manual", createdAt: new Date(clock.t), expiresAt: null, offences: 1 });
  assert.ok(bans.find("192.0.2.7"), "not seen before refresh");

  await bans.refresh();
  assert.equal(bans.find("192.0.2.7"), null);
  assert.ok(bans.find("192.0.2.8"));
  assert.equal(bans.find("2001:db8:0:ffff::1")?.subject, "2001:db8::/48");
  const lifted = events("ban.lifted");
  assert.equal(lifted.length, 1);
  assert.equal(lifted[0]!.subject, "192.0.2.7");
  assert.equal(lifted[0]!.via, "store");
  assert.equal(events("ban.added").filter((e) => e.via === "store").length, 1);

  // lift() of a subject spelt differently in the store finds and deletes the stored row.
  assert.equal(await bans.lift("2001:db8:0::/48"), true);
  assert.equal(store.rows.size, 1);
  assert.equal(bans.find("2001:db8::1"), null);
});

test("a refresh running while a ban is made does not lose the ban", async () => {
  const { bans } = await setup();
  const r = bans.refresh();
  const b = bans.ban("192.0.2.9", "auth failures");
  const r2 = bans.refresh();
  await Promise.all([r, b, r2]);
  assert.ok(bans.find("192.0.2.9"));
});

test("lift(): removes the ban, logs ban.lifted, false when none", async () => {
  const { bans, store, events } = await setup();
  await bans.ban("192.0.2.7", "auth failures");
  assert.equal(await bans.lift("::ffff:192.0.2.7"), true);
  assert.equal(bans.find("192.0.2.7"), null);
  assert.equal(store.rows.size, 0);
  assert.equal(await bans.lift("192.0.2.7"), false);
  assert.equal(events("ban.lifted").length, 1);
  await assert.rejects(bans.lift("bogus"), AddressError);
  // Lifting forgets offences: the next ban is a first offence again.
  assert.equal((await bans.ban("192.0.2.7", "auth failures"))?.offences, 1);
});

test("a failing store: the ban is enforced at once and written on the next refresh", async () => {
  const { bans, store, lines } = await setup();
  store.failPut = new Error("disk full");
  const ban = await bans.ban("192.0.2.7", "auth failures");
  assert.ok(ban);
  assert.ok(bans.find("192.0.2.7"));
  assert.ok(lines().some((l) => l.level === "error"));
  await bans.refresh();
  assert.ok(bans.find("192.0.2.7"), "not dropped by a refresh while unsaved");
  store.failPut = null;
  await bans.refresh();
  assert.equal(store.rows.get("192.0.2.7")?.reason, "auth failures");
});

test("stored rows with invalid subjects are skipped with a warning", async () => {
  const store = new MemoryBanStore();
  store.rows.set("garbage", { subject: "garbage", reason: "?", createdAt: new Date(), expiresAt: null, offences: 1 });
  store.rows.set("192.0.2.1", { subject: "192.0.2.1", reason: "ok", createdAt: new Date(), expiresAt: null, offences: 1 });
  const { bans, lines } = await setup({}, store);
  assert.deepEqual(bans.list().map((b) => b.subject), ["192.0.2.1"]);
  assert.ok(lines().some((l) => l.level === "warn" && l.subject === "garbage"));
});
