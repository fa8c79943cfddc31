// Store.listSummaries: the cheap listing of a mailbox (no stored structures) with the mailbox row
// read at the same moment.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { openStore } from "./index.js";
import { LIST_SUMMARIES_SQL } from "./messages.js";
import { StoreError, type MessageMeta, type Store } from "./types.js";

async function withStore(fn: (store: Store, inbox: number, trash: number, dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "portcullis-summaries-"));
  const store = await openStore(dir);
  try {
    await store.addDomain("example.test");
    const a = await store.createAccount("user@example.test");
    await fn(store, (await store.getMailbox(a.id, "INBOX"))!.id, (await store.getMailbox(a.id, "Trash"))!.id, dir);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const msg = (n: number): Buffer => Buffer.from(`Subject: ${n}\r\nFrom: a@example.test\r\n\r\nBody of message ${n}.\r\n`);

test("listSummaries equals listMessages without the stored structures, ascending UID", async () => {
  await withStore(async (store, inbox, trash) => {
    const flags = [[], ["\\Seen"], ["\\Seen", "$Work"], ["\\Deleted"], ["\\Seen"], []];
    for (let i = 0; i < flags.length; i++) {
      await store.appendMessage(inbox, { body: msg(i), flags: flags[i]!, internalDate: new Date(Date.UTC(2026, 0, i + 1, 12)), parsed: i % 2 ? { v: i } : undefined });
    }
    await store.expunge(inbox, [3]);
    await store.storeFlags(inbox, [5], "add", ["\\Flagged"]);
    // A COPY makes UIDs in another mailbox; they must not appear here.
    await store.copyMessages(inbox, [1, 2], trash);
    const snap = await store.listSummaries(inbox);
    const full = await store.listMessages(inbox);
    const fields = (m: Omit<MessageMeta, "parsed">) => ({ id: m.id, mailboxId: m.mailboxId, uid: m.uid, modseq: m.modseq, flags: [...m.flags], internalDate: m.internalDate, size: m.size });
    assert.deepEqual(snap.messages.map(fields), full.map(fields));
    assert.deepEqual(snap.messages.map((m) => m.uid), [1, 2, 4, 5, 6]);
    assert.ok(snap.messages.every((m) => !("parsed" in m)));
    assert.deepEqual(snap.mailbox, await store.getMailboxById(inbox));
    assert.equal(snap.mailbox.highestModseq, (await store.mailboxStatus(inbox)).highestModseq);
  });
});

test("listSummaries shares one frozen flag list per distinct value", async () => {
  await withStore(async (store, inbox) => {
    for (let i = 0; i < 4; i++) await store.appendMessage(inbox, { body: msg(i), flags: i % 2 ? ["\\Seen"] : [] });
    const { messages } = await store.listSummaries(inbox);
    assert.equal(messages[1]!.flags, messages[3]!.flags);
    assert.equal(messages[0]!.flags, messages[2]!.flags);
    assert.ok(Object.isFrozen(messages[1]!.flags));
    assert.throws(() => (messages[1]!.flags as string[]).push("\\Deleted"), TypeError);
    // Each call decodes afresh: a later listing never sees changes through an earlier one's arrays.
    await store.storeFlags(inbox, [2], "add", ["\\Answered"]);
    const again = await store.listSummaries(inbox);
    assert.deepEqual([...again.messages[1]!.flags].sort(), ["\\Answered", "\\Seen"]);
    assert.deepEqual([...messages[1]!.flags], ["\\Seen"]);
  });
});

test("listSummaries of an empty mailbox, and of a missing one", async () => {
  await withStore(async (store, inbox) => {
    const snap = await store.listSummaries(inbox);
    assert.deepEqual(snap.messages, []);
    assert.equal(snap.mailbox.id, inbox);
    assert.equal(snap.mailbox.highestModseq, 0);
    await assert.rejects(store.listSummaries(999_999), (e: unknown) => e instanceof StoreError && e.code === "not-found");
  });
});

test("listSummaries of 5,000 messages keeps UID order and sizes", async () => {
  await withStore(async (store, inbox) => {
    for (let i = 0; i < 5000; i += 250) {
      await Promise.all(Array.from({ length: 250 }, (_, k) => store.appendMessage(inbox, { body: msg(i + k), flags: (i + k) % 3 ? ["\\Seen"] : [] })));
    }
    await store.expunge(inbox, [10, 20, 4999]);
    const { messages, mailbox } = await store.listSummaries(inbox);
    assert.equal(messages.length, 4997);
    for (let i = 1; i < messages.length; i++) assert.ok(messages[i - 1]!.uid < messages[i]!.uid);
    const full = await store.listMessages(inbox);
    assert.deepEqual(messages.map((m) => [m.id, m.uid, m.size, m.modseq, m.internalDate.getTime()]), full.map((m) => [m.id, m.uid, m.size, m.modseq, m.internalDate.getTime()]));
    assert.equal(mailbox.uidNext, 5001);
  });
});

test("the listing reads the covering index only, not the rows with their structures", async () => {
  await withStore(async (store, inbox, _trash, dir) => {
    await store.appendMessage(inbox, { body: msg(1), parsed: { v: 1, big: "x".repeat(5000) } });
    const db = new Database(path.join(dir, "store", "portcullis.db"), { readonly: true });
    try {
      const plan = (db.prepare(`EXPLAIN QUERY PLAN ${LIST_SUMMARIES_SQL}`).all(inbox) as Array<{ detail: string }>).map((r) => r.detail).join(" | ");
      assert.match(plan, /USING COVERING INDEX messages_listing/, plan);
    } finally {
      db.close();
    }
  });
});
