// MailboxViews (views.ts) against a real store: a listing handed out always equals a fresh
// listing of the store, whether changes arrive as events of this process or are made behind its
// back (a second store instance, as another process would), and is reused when nothing changed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { openStore } from "./index.js";
import { StoreError, type Store } from "./types.js";
import { MailboxViews, type MailboxListing } from "./views.js";

interface Fixture {
  store: Store;
  dir: string;
  inbox: number;
  views: MailboxViews;
  /** How many times the views read a whole mailbox. */
  rebuilds(): number;
  /** Store subscriptions the views hold. */
  subscriptions(): number;
}

async function withViews(fn: (f: Fixture) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "portcullis-views-"));
  const store = await openStore(dir);
  let count = 0;
  let subscribed = 0;
  const counting = new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === "listSummaries") return (id: number) => (count++, target.listSummaries(id));
      if (prop === "subscribe") {
        return (id: number, l: Parameters<Store["subscribe"]>[1]) => {
          const off = target.subscribe(id, l);
          subscribed++;
          let done = false;
          return () => {
            if (!done) subscribed--;
            done = true;
            off();
          };
        };
      }
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  try {
    await store.addDomain("example.test");
    const a = await store.createAccount("user@example.test");
    const inbox = (await store.getMailbox(a.id, "INBOX"))!.id;
    await fn({ store, dir, inbox, views: new MailboxViews(counting), rebuilds: () => count, subscriptions: () => subscribed });
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const msg = (n: number): Buffer => Buffer.from(`Subject: ${n}\r\nFrom: a@example.test\r\n\r\nBody ${n}.\r\n`);

/** The listing compared with what the store says now. */
async function assertCurrent(store: Store, mailboxId: number, l: MailboxListing): Promise<void> {
  const fresh = await store.listMessages(mailboxId);
  assert.deepEqual(
    l.messages.map((m) => [m.id, m.uid, m.modseq, [...m.flags], m.size, m.internalDate.getTime()]),
    fresh.map((m) => [m.id, m.uid, m.modseq, m.flags, m.size, m.internalDate.getTime()]),
  );
  assert.deepEqual(l.uids, fresh.map((m) => m.uid));
  const st = await store.mailboxStatus(mailboxId);
  assert.equal(l.status.highestModseq, st.highestModseq);
  assert.equal(l.status.uidNext, st.uidNext);
  assert.equal(l.status.messages, st.messages);
  const unseen = fresh.findIndex((m) => !m.flags.includes("\\Seen"));
  assert.equal(l.firstUnseen, unseen + 1);
  assert.deepEqual([...l.keywords].sort(), [...new Set(fresh.flatMap((m) => m.flags.filter((f) => !f.startsWith("\\"))))].sort());
}

test("a listing is reused while nothing changes, and follows appends, flag changes and expunges from events", async () => {
  await withViews(async ({ store, inbox, views, rebuilds }) => {
    for (let i = 0; i < 5; i++) await store.appendMessage(inbox, { body: msg(i), flags: i % 2 ? ["\\Seen"] : [] });
    const first = await views.get(inbox);
    await assertCurrent(store, inbox, first);
    const firstMessages = first.messages.map((m) => [m.id, m.uid, m.modseq, [...m.flags], m.size, m.internalDate.getTime()]);
    assert.equal(rebuilds(), 1);
    await assertCurrent(store, inbox, await views.get(inbox));
    assert.equal(rebuilds(), 1, "nothing changed: no re-read");

    await store.appendMessage(inbox, { body: msg(5), flags: ["$Later"] });
    await store.storeFlags(inbox, [1, 2], "add", ["\\Seen", "$Work"]);
    await store.expunge(inbox, [4]);
    await store.appendMessage(inbox, { body: msg(6) });
    const later = await views.get(inbox);
    await assertCurrent(store, inbox, later);
    assert.equal(rebuilds(), 1, "kept current from events alone");
    // What was handed out before is unchanged.
    assert.deepEqual(first.messages.map((m) => [m.id, m.uid, m.modseq, [...m.flags], m.size, m.internalDate.getTime()]), firstMessages);

    await store.storeFlags(inbox, later.uids.slice(), "set", ["\\Seen"]);
    await assertCurrent(store, inbox, await views.get(inbox));
    await store.expunge(inbox, later.uids.slice());
    const empty = await views.get(inbox);
    await assertCurrent(store, inbox, empty);
    assert.equal(empty.messages.length, 0);
    assert.equal(rebuilds(), 1);
  });
});

test("changes made without events (another process) are noticed through HIGHESTMODSEQ and re-read", async () => {
  await withViews(async ({ store, dir, inbox, views, rebuilds }) => {
    for (let i = 0; i < 4; i++) await store.appendMessage(inbox, { body: msg(i) });
    await assertCurrent(store, inbox, await views.get(inbox));
    const other = await openStore(dir); // a second instance: its changes reach no subscriber here
    try {
      await other.storeFlags(inbox, [2], "add", ["\\Flagged"]);
      await assertCurrent(store, inbox, await views.get(inbox));
      assert.equal(rebuilds(), 2);
      await other.expunge(inbox, [3]);
      await other.appendMessage(inbox, { body: msg(9), flags: ["\\Seen"] });
      await assertCurrent(store, inbox, await views.get(inbox));
      assert.equal(rebuilds(), 3);
    } finally {
      await other.close();
    }
  });
});

test("changes racing with the read are not lost", async () => {
  await withViews(async ({ store, inbox, views }) => {
    for (let i = 0; i < 50; i++) await store.appendMessage(inbox, { body: msg(i) });
    // Writes submitted while listings are being built and refreshed; every listing handed out is
    // current when handed out, and the last one equals the store.
    const writes: Array<Promise<unknown>> = [];
    for (let round = 0; round < 20; round++) {
      writes.push(store.appendMessage(inbox, { body: msg(100 + round) }));
      writes.push(store.storeFlags(inbox, [round + 1], "add", ["\\Seen"]));
      if (round % 3 === 0) writes.push(store.expunge(inbox, [round + 2]));
      const [a, b] = await Promise.all([views.get(inbox), views.get(inbox)]);
      for (const l of [a, b]) assert.equal(l.messages.length, l.status.messages);
    }
    await Promise.all(writes);
    await assertCurrent(store, inbox, await views.get(inbox));
  });
});

test("a deleted mailbox is dropped: get() reports it missing", async () => {
  await withViews(async ({ store, inbox, views }) => {
    const a = (await store.getAccount("user@example.test"))!;
    const box = await store.createMailbox(a.id, "Projects");
    await store.appendMessage(box.id, { body: msg(1) });
    assert.equal((await views.get(box.id)).messages.length, 1);
    await store.deleteMailbox(box.id);
    await assert.rejects(views.get(box.id), (e: unknown) => e instanceof StoreError && e.code === "not-found");
    assert.equal((await views.get(inbox)).messages.length, 0);
  });
});

test("concurrent first reads of a mailbox share one read and one subscription", async () => {
  await withViews(async ({ store, dir, inbox, views, rebuilds, subscriptions }) => {
    for (let i = 0; i < 20; i++) await store.appendMessage(inbox, { body: msg(i) });
    const all = await Promise.all(Array.from({ length: 5 }, () => views.get(inbox)));
    for (const l of all) await assertCurrent(store, inbox, l);
    assert.equal(rebuilds(), 1);
    assert.equal(subscriptions(), 1);
    // A change behind the views' back, then concurrent reads again: still one subscription.
    const other = await openStore(dir);
    try {
      await other.storeFlags(inbox, [3], "add", ["\\Answered"]);
    } finally {
      await other.close();
    }
    const again = await Promise.all([views.get(inbox), views.get(inbox), views.get(inbox)]);
    for (const l of again) await assertCurrent(store, inbox, l);
    assert.equal(subscriptions(), 1);
  });
});
