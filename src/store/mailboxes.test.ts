import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { openStore } from "./index.js";
import { StoreError, type Store } from "./types.js";

async function withStore(fn: (store: Store, accountId: number) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "portcullis-store-"));
  const store = await openStore(dir);
  try {
    await store.addDomain("example.test");
    const a = await store.createAccount("user@example.test");
    await fn(store, a.id);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const code = (c: StoreError["code"]) => (e: unknown) => e instanceof StoreError && e.code === c;

test("createMailbox: names normalised, duplicates refused, special-use checked", async () => {
  await withStore(async (store, acct) => {
    const m = await store.createMailbox(acct, "Work/Projects", "\\Archive");
    assert.equal(m.name, "Work/Projects");
    assert.equal(m.specialUse, "\\Archive");
    assert.equal(m.subscribed, true);
    assert.equal(m.uidNext, 1);
    assert.equal(m.highestModseq, 0);
    assert.equal(m.accountId, acct);
    await assert.rejects(store.createMailbox(acct, "Work/Projects"), code("exists"));
    await assert.rejects(store.createMailbox(acct, "inbox"), code("exists"));
    await assert.rejects(store.createMailbox(acct, "a//b"), code("invalid"));
    await assert.rejects(store.createMailbox(acct, "/a"), code("invalid"));
    await assert.rejects(store.createMailbox(acct, ""), code("invalid"));
    await assert.rejects(store.createMailbox(acct, "bad\u0000name"), code("invalid"));
    await assert.rejects(store.createMailbox(acct, "x", "\\Bogus" as "\\Sent"), code("invalid"));
    await assert.rejects(store.createMailbox(4242, "x"), code("not-found"));
    const child = await store.createMailbox(acct, "inbox/Receipts");
    assert.equal(child.name, "INBOX/Receipts");
    assert.equal((await store.getMailbox(acct, "InBoX"))?.name, "INBOX");
    assert.equal((await store.getMailbox(acct, "inbox/receipts")), null); // only INBOX is case-insensitive
    assert.equal((await store.getMailbox(acct, "INBOX/Receipts"))?.id, child.id);
    assert.equal((await store.getMailboxById(m.id))?.name, "Work/Projects");
    assert.equal(await store.getMailboxById(99999), null);
    const names = (await store.listMailboxes(acct)).map((x) => x.name);
    assert.equal(names[0], "INBOX");
    assert.ok(names.includes("Work/Projects"));
  });
});

test("UIDVALIDITY: non-zero 32-bit, distinct, and new for a re-created name", async () => {
  await withStore(async (store, acct) => {
    const seen = new Set<number>();
    for (const m of await store.listMailboxes(acct)) {
      assert.ok(Number.isInteger(m.uidValidity) && m.uidValidity > 0 && m.uidValidity <= 0xffffffff);
      seen.add(m.uidValidity);
    }
    assert.equal(seen.size, 6);
    const a = await store.createMailbox(acct, "Temp");
    await store.appendMessage(a.id, { body: Buffer.from("x\r\n") });
    await store.deleteMailbox(a.id);
    const b = await store.createMailbox(acct, "Temp");
    assert.notEqual(b.uidValidity, a.uidValidity);
    assert.ok(b.uidValidity > a.uidValidity);
    assert.equal(b.uidNext, 1);
    await assert.rejects(store.deleteMailbox(a.id), code("not-found"));
  });
});

test("renameMailbox moves children, keeps UIDVALIDITY and messages, refuses existing names", async () => {
  await withStore(async (store, acct) => {
    const a = await store.createMailbox(acct, "a");
    const ax = await store.createMailbox(acct, "a/x");
    const axy = await store.createMailbox(acct, "a/x/y");
    const ab = await store.createMailbox(acct, "ab"); // not a child of "a"
    await store.appendMessage(ax.id, { body: Buffer.from("m\r\n") });
    await store.renameMailbox(a.id, "b");
    assert.equal((await store.getMailboxById(a.id))?.name, "b");
    assert.equal((await store.getMailboxById(ax.id))?.name, "b/x");
    assert.equal((await store.getMailboxById(axy.id))?.name, "b/x/y");
    assert.equal((await store.getMailboxById(ab.id))?.name, "ab");
    assert.equal((await store.getMailboxById(ax.id))?.uidValidity, ax.uidValidity);
    assert.equal((await store.mailboxStatus(ax.id)).messages, 1);

    await assert.rejects(store.renameMailbox(a.id, "ab"), code("exists"));
    await store.createMailbox(acct, "c/x");
    await assert.rejects(store.renameMailbox(a.id, "c"), code("exists")); // "c" is free, but b/x would become the existing c/x
    assert.equal((await store.getMailboxById(a.id))?.name, "b");
    await assert.rejects(store.renameMailbox(a.id, "b"), code("exists"));
    await assert.rejects(store.renameMailbox(4242, "z"), code("not-found"));

    // Renaming under itself works without colliding half-way.
    await store.renameMailbox(a.id, "b/b");
    assert.deepEqual(
      [(await store.getMailboxById(a.id))?.name, (await store.getMailboxById(ax.id))?.name, (await store.getMailboxById(axy.id))?.name],
      ["b/b", "b/b/x", "b/b/x/y"],
    );
    // Names outside the BMP: children still move with their parent.
    const emoji = await store.createMailbox(acct, "😀 Fun");
    const emojiChild = await store.createMailbox(acct, "😀 Fun/Kids");
    await store.renameMailbox(emoji.id, "Fun 🎉");
    assert.equal((await store.getMailboxById(emojiChild.id))?.name, "Fun 🎉/Kids");
    // The old name can be created again and gets a new UIDVALIDITY.
    const again = await store.createMailbox(acct, "a");
    assert.notEqual(again.uidValidity, a.uidValidity);
  });
});

test("setSubscribed and mailboxStatus", async () => {
  await withStore(async (store, acct) => {
    const inbox = (await store.getMailbox(acct, "INBOX"))!;
    await store.setSubscribed(inbox.id, false);
    assert.equal((await store.getMailboxById(inbox.id))?.subscribed, false);
    await store.setSubscribed(inbox.id, true);
    assert.equal((await store.getMailboxById(inbox.id))?.subscribed, true);
    await assert.rejects(store.setSubscribed(4242, true), code("not-found"));

    const body = Buffer.from("Subject: s\r\n\r\nhello\r\n");
    await store.appendMessage(inbox.id, { body, flags: ["\\Seen"] });
    await store.appendMessage(inbox.id, { body, flags: ["\\Deleted"] });
    await store.appendMessage(inbox.id, { body });
    const st = await store.mailboxStatus(inbox.id);
    assert.deepEqual(st, {
      messages: 3,
      unseen: 2,
      deleted: 1,
      uidNext: 4,
      uidValidity: inbox.uidValidity,
      highestModseq: 3,
      size: 3 * body.length,
    });
    await store.storeFlags(inbox.id, [1, 2, 3], "set", ["\\Seen"]);
    const st2 = await store.mailboxStatus(inbox.id);
    assert.equal(st2.unseen, 0);
    assert.equal(st2.deleted, 0);
    await assert.rejects(store.mailboxStatus(4242), code("not-found"));
  });
});

test("deleteMailbox removes its messages and leaves other mailboxes alone", async () => {
  await withStore(async (store, acct) => {
    const parent = await store.createMailbox(acct, "p");
    const child = await store.createMailbox(acct, "p/c");
    await store.appendMessage(parent.id, { body: Buffer.from("one\r\n") });
    await store.appendMessage(child.id, { body: Buffer.from("two\r\n") });
    await store.deleteMailbox(parent.id);
    assert.equal(await store.getMailbox(acct, "p"), null);
    assert.equal((await store.mailboxStatus(child.id)).messages, 1);
    assert.equal(await store.quotaUsage(acct), 5);
    const report = await store.checkIntegrity();
    assert.deepEqual(report.problems, []);
    assert.equal(report.messages, 1);
  });
});
