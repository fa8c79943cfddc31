import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, readdir, writeFile, access } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { openStore } from "./index.js";
import { StoreError, type MailboxEvent, type Store } from "./types.js";

/** These tests are about body files: every body goes to a file (small bodies are otherwise kept
 * in the database; inline bodies have their own tests in messages.test.ts). */
const FILE_BODIES = { inlineMax: 0 };

interface Fixture {
  store: Store;
  dir: string;
  accountId: number;
  inbox: number;
  trash: number;
}

async function withStore(fn: (f: Fixture) => Promise<void>, opts: { inlineMax?: number } = FILE_BODIES): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "portcullis-store-"));
  const store = await openStore(dir, opts);
  try {
    await store.addDomain("example.test");
    const a = await store.createAccount("user@example.test");
    const inbox = (await store.getMailbox(a.id, "INBOX"))!.id;
    const trash = (await store.getMailbox(a.id, "Trash"))!.id;
    await fn({ store, dir, accountId: a.id, inbox, trash });
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const code = (c: StoreError["code"]) => (e: unknown) => e instanceof StoreError && e.code === c;
const msg = (n: number | string): Buffer => Buffer.from(`Subject: ${n}\r\nFrom: a@example.test\r\n\r\nBody of message ${n}.\r\n`);

async function blobFiles(dir: string): Promise<string[]> {
  const root = path.join(dir, "store", "blobs");
  const out: string[] = [];
  for (const d of await readdir(root)) if (d !== "tmp") for (const f of await readdir(path.join(root, d))) out.push(f);
  return out;
}

test("append: UIDs strictly ascending from 1, one new MODSEQ each, metadata kept", async () => {
  await withStore(async ({ store, inbox }) => {
    const date = new Date(Date.UTC(2025, 5, 1, 12, 0, 0));
    const mb0 = (await store.getMailboxById(inbox))!;
    const r1 = await store.appendMessage(inbox, { body: msg(1), flags: ["\\seen", "$Label1"], internalDate: date, parsed: { subject: "1" } });
    const r2 = await store.appendMessage(inbox, { body: msg(2) });
    assert.deepEqual([r1.uid, r2.uid], [1, 2]);
    assert.ok(r2.modseq > r1.modseq && r1.modseq > 0);
    assert.equal(r1.uidValidity, mb0.uidValidity);
    assert.equal(r1.mailboxId, inbox);
    const list = await store.listMessages(inbox);
    assert.equal(list.length, 2);
    assert.deepEqual(list[0], {
      id: r1.id,
      mailboxId: inbox,
      uid: 1,
      modseq: r1.modseq,
      flags: ["\\Seen", "$Label1"],
      internalDate: date,
      size: msg(1).length,
      parsed: { subject: "1" },
    });
    assert.equal(list[1]!.parsed, null);
    assert.deepEqual(list[1]!.flags, []);
    const mb = (await store.getMailboxById(inbox))!;
    assert.equal(mb.uidNext, 3);
    assert.equal(mb.highestModseq, r2.modseq);
    assert.deepEqual(await store.readBody(r1.id), msg(1));
  });
});

test("append refuses unknown mailboxes, bad flags and non-JSON parsed, leaving no file behind", async () => {
  await withStore(async ({ store, dir, inbox }) => {
    await assert.rejects(store.appendMessage(99999, { body: msg(1) }), code("not-found"));
    await assert.rejects(store.appendMessage(inbox, { body: msg(1), flags: ["\\Recent"] }), code("invalid"));
    await assert.rejects(store.appendMessage(inbox, { body: msg(1), flags: ["bad flag"] }), code("invalid"));
    await assert.rejects(store.appendMessage(inbox, { body: msg(1), flags: ["a(b"] }), code("invalid"));
    await assert.rejects(store.appendMessage(inbox, { body: msg(1), parsed: () => 1 }), code("invalid"));
    await assert.rejects(store.deliver([], { body: msg(1) }), code("invalid"));
    assert.deepEqual(await blobFiles(dir), []);
    assert.equal((await store.mailboxStatus(inbox)).uidNext, 1);
  });
});

test("UIDs are never reused, also after expunge and reopen; status counters follow", async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "portcullis-store-"));
  try {
    let store = await openStore(dir, FILE_BODIES);
    await store.addDomain("example.test");
    const a = await store.createAccount("user@example.test");
    const inbox = (await store.getMailbox(a.id, "INBOX"))!.id;
    for (let i = 1; i <= 3; i++) await store.appendMessage(inbox, { body: msg(i), flags: i === 1 ? ["\\Seen"] : [] });
    let st = await store.mailboxStatus(inbox);
    assert.equal(st.messages, 3);
    assert.equal(st.unseen, 2);
    assert.equal(st.deleted, 0);
    assert.equal(st.size, msg(1).length + msg(2).length + msg(3).length);
    await store.expunge(inbox, [3]);
    await store.close();
    store = await openStore(dir, FILE_BODIES);
    const r = await store.appendMessage(inbox, { body: msg(4) });
    assert.equal(r.uid, 4);
    st = await store.mailboxStatus(inbox);
    assert.equal(st.messages, 3);
    assert.equal(st.uidNext, 5);
    assert.deepEqual((await store.listMessages(inbox)).map((m) => m.uid), [1, 2, 4]);
    await store.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("flags: system flags canonicalised, keywords kept as given but matched case-insensitively", async () => {
  await withStore(async ({ store, inbox }) => {
    await store.appendMessage(inbox, { body: msg(1), flags: ["$Junk", "\\FLAGGED", "\\seen", "$junk", "\\Seen"] });
    let [m] = await store.getMessages(inbox, [1]);
    assert.deepEqual(m!.flags, ["\\Seen", "\\Flagged", "$Junk"]);

    let r = await store.storeFlags(inbox, [1], "add", ["$JUNK", "NonJunk", "\\answered"]);
    assert.deepEqual(r.changed.map((c) => c.flags), [["\\Seen", "\\Answered", "\\Flagged", "$Junk", "NonJunk"]]);
    r = await store.storeFlags(inbox, [1], "remove", ["$junk", "\\SEEN"]);
    assert.deepEqual(r.changed[0]!.flags, ["\\Answered", "\\Flagged", "NonJunk"]);
    r = await store.storeFlags(inbox, [1], "set", ["\\Draft", "x", "X"]);
    assert.deepEqual(r.changed[0]!.flags, ["\\Draft", "x"]);
    [m] = await store.getMessages(inbox, [1]);
    assert.deepEqual(m!.flags, ["\\Draft", "x"]);
    await assert.rejects(store.storeFlags(inbox, [1], "add", ["\\Recent"]), code("invalid"));
    await assert.rejects(store.storeFlags(inbox, [1], "add", [""]), code("invalid"));
  });
});

test("storeFlags: one new MODSEQ per change, no-ops take none, UNCHANGEDSINCE reports modified", async () => {
  await withStore(async ({ store, inbox }) => {
    for (let i = 1; i <= 3; i++) await store.appendMessage(inbox, { body: msg(i) });
    const before = (await store.mailboxStatus(inbox)).highestModseq;
    const r = await store.storeFlags(inbox, [1, 2, 3, 77], "add", ["\\Seen"]);
    assert.deepEqual(r.modified, []);
    assert.deepEqual(r.changed.map((c) => c.uid), [1, 2, 3]);
    const m1 = r.changed[0]!.modseq;
    assert.ok(m1 > before);
    assert.ok(r.changed.every((c) => c.modseq === m1));
    let st = await store.mailboxStatus(inbox);
    assert.equal(st.highestModseq, m1);
    assert.equal(st.unseen, 0);

    const noop = await store.storeFlags(inbox, [1, 2], "add", ["\\seen"]);
    assert.deepEqual(noop, { changed: [], modified: [] });
    assert.equal((await store.mailboxStatus(inbox)).highestModseq, m1);

    // Message 2 changes again, so its MODSEQ passes m1.
    const r2 = await store.storeFlags(inbox, [2], "add", ["\\Deleted"]);
    const m2 = r2.changed[0]!.modseq;
    assert.ok(m2 > m1);
    st = await store.mailboxStatus(inbox);
    assert.equal(st.deleted, 1);
    // RFC 7162 §3.1.3: with UNCHANGEDSINCE m1, message 2 (modseq m2 > m1) fails, 1 and 3 change.
    const cond = await store.storeFlags(inbox, [1, 2, 3], "add", ["\\Flagged"], m1);
    assert.deepEqual(cond.modified, [2]);
    assert.deepEqual(cond.changed.map((c) => c.uid), [1, 3]);
    const [m] = await store.getMessages(inbox, [2]);
    assert.deepEqual(m!.flags, ["\\Seen", "\\Deleted"]);
    await assert.rejects(store.storeFlags(4242, [1], "add", ["\\Seen"]), code("not-found"));
  });
});

test("getMessages returns existing UIDs ascending and skips missing ones", async () => {
  await withStore(async ({ store, inbox }) => {
    for (let i = 1; i <= 5; i++) await store.appendMessage(inbox, { body: msg(i) });
    assert.deepEqual((await store.getMessages(inbox, [5, 2, 9, 2])).map((m) => m.uid), [2, 5]);
    assert.deepEqual(await store.getMessages(inbox, []), []);
    await assert.rejects(store.getMessages(999, [1]), code("not-found"));
  });
});

test("openBody streams the body or an inclusive byte range", async () => {
  await withStore(async ({ store, inbox }) => {
    const body = msg("range");
    const r = await store.appendMessage(inbox, { body });
    const read = async (s: NodeJS.ReadableStream): Promise<Buffer> => {
      const parts: Buffer[] = [];
      for await (const c of s) parts.push(c as Buffer);
      return Buffer.concat(parts);
    };
    assert.deepEqual(await read(await store.openBody(r.id)), body);
    assert.deepEqual(await read(await store.openBody(r.id, { start: 2, end: 5 })), body.subarray(2, 6));
    assert.deepEqual(await read(await store.openBody(r.id, { start: 10 })), body.subarray(10));
    assert.deepEqual(await read(await store.openBody(r.id, { start: body.length + 5 })), Buffer.alloc(0));
    await assert.rejects(store.openBody(r.id, { start: 5, end: 2 }), code("invalid"));
    await assert.rejects(store.openBody(12345), code("not-found"));
    await assert.rejects(store.readBody(12345), code("not-found"));
  });
});

test("append takes over a body file (renamed into the store)", async () => {
  await withStore(async ({ store, dir, inbox }) => {
    const file = path.join(dir, "incoming.eml");
    await writeFile(file, msg("file"));
    const r = await store.appendMessage(inbox, { body: { path: file, size: msg("file").length } });
    assert.deepEqual(await store.readBody(r.id), msg("file"));
    await assert.rejects(access(file));
    const wrong = path.join(dir, "wrong.eml");
    await writeFile(wrong, "abc");
    await assert.rejects(store.appendMessage(inbox, { body: { path: wrong, size: 10 } }), code("invalid"));
    await assert.rejects(store.appendMessage(inbox, { body: { path: path.join(dir, "none"), size: 1 } }), code("invalid"));
    assert.equal((await store.checkIntegrity()).ok, true);

    // A write that does not commit gives the caller's file back: refused up front (quota) ...
    const acct = (await store.listAccounts())[0]!;
    await store.setQuota(acct.id, (await store.quotaUsage(acct.id)) + 10);
    const big = path.join(dir, "big.eml");
    await writeFile(big, msg("too big for the quota"));
    await assert.rejects(store.appendMessage(inbox, { body: { path: big, size: msg("too big for the quota").length } }), code("over-quota"));
    await access(big);
    // ... or at commit time, after the store had taken the file over.
    await store.setQuota(acct.id, (await store.quotaUsage(acct.id)) + msg("too big for the quota").length);
    const [first, second] = await Promise.allSettled([
      store.appendMessage(inbox, { body: msg("too big for the quota") }),
      store.appendMessage(inbox, { body: { path: big, size: msg("too big for the quota").length } }),
    ]);
    assert.equal([first, second].filter((r) => r.status === "rejected").length, 1);
    if (second.status === "rejected") await access(big);
    else await assert.rejects(access(big));
    assert.equal((await store.checkIntegrity()).ok, true);
  });
});

test("expunge: \\Deleted messages or given UIDs; VANISHED remembered; files removed with the last reference", async () => {
  await withStore(async ({ store, dir, inbox, trash }) => {
    for (let i = 1; i <= 5; i++) await store.appendMessage(inbox, { body: msg(i) });
    await store.copyMessages(inbox, [1], trash); // message 1's body is now shared
    assert.equal((await blobFiles(dir)).length, 5);
    await store.storeFlags(inbox, [1, 3], "add", ["\\Deleted"]);
    const hm = (await store.mailboxStatus(inbox)).highestModseq;
    assert.deepEqual(await store.expunge(inbox), [1, 3]);
    assert.deepEqual(await store.expunge(inbox), []);
    const st = await store.mailboxStatus(inbox);
    assert.equal(st.messages, 3);
    assert.equal(st.deleted, 0);
    assert.equal(st.highestModseq, hm + 1);
    assert.equal((await blobFiles(dir)).length, 4); // 1 lives on in Trash, 3 is gone
    assert.deepEqual(await store.expunge(inbox, [2, 42]), [2]);
    assert.equal((await blobFiles(dir)).length, 3);
    assert.deepEqual((await store.listMessages(inbox)).map((m) => m.uid), [4, 5]);
    const ch = await store.changesSince(inbox, hm);
    assert.deepEqual(ch.vanished, [1, 2, 3]);
    assert.deepEqual((await store.changesSince(inbox, hm + 1)).vanished, [2]);
    await store.expunge(trash, [1]);
    assert.equal((await blobFiles(dir)).length, 2);
    assert.equal((await store.checkIntegrity()).ok, true);
  });
});

test("copy: COPYUID mapping in source order, new UIDs and MODSEQ, flags kept, body shared", async () => {
  await withStore(async ({ store, dir, inbox, trash }) => {
    for (let i = 1; i <= 4; i++) await store.appendMessage(inbox, { body: msg(i), flags: i === 2 ? ["\\Seen", "$x"] : [] });
    await store.appendMessage(trash, { body: msg("t") });
    const tv = (await store.getMailboxById(trash))!.uidValidity;
    const r = await store.copyMessages(inbox, [4, 2, 3, 99], trash);
    assert.deepEqual(r, { uidValidity: tv, mapping: [[2, 2], [3, 3], [4, 4]] });
    const copied = await store.listMessages(trash);
    assert.deepEqual(copied.map((m) => m.uid), [1, 2, 3, 4]);
    assert.deepEqual(copied[1]!.flags, ["\\Seen", "$x"]);
    assert.deepEqual(await store.readBody(copied[1]!.id), msg(2));
    assert.ok(copied[1]!.modseq > copied[0]!.modseq);
    assert.equal((await blobFiles(dir)).length, 5);
    assert.equal((await store.listMessages(inbox)).length, 4);
    assert.deepEqual(await store.copyMessages(inbox, [77], trash), { uidValidity: tv, mapping: [] });
    await assert.rejects(store.copyMessages(inbox, [1], 4242), code("not-found"));
    // Copy into the same mailbox is allowed (IMAP COPY to the selected mailbox).
    const same = await store.copyMessages(inbox, [1], inbox);
    assert.deepEqual(same.mapping, [[1, 5]]);
  });
});

test("move: copies then expunges the source atomically", async () => {
  await withStore(async ({ store, inbox, trash }) => {
    for (let i = 1; i <= 3; i++) await store.appendMessage(inbox, { body: msg(i) });
    const events: MailboxEvent[] = [];
    store.subscribe(inbox, (e) => events.push(e));
    store.subscribe(trash, (e) => events.push(e));
    const r = await store.moveMessages(inbox, [1, 3], trash);
    assert.deepEqual(r.mapping, [[1, 1], [3, 2]]);
    assert.deepEqual((await store.listMessages(inbox)).map((m) => m.uid), [2]);
    assert.deepEqual((await store.listMessages(trash)).map((m) => m.uid), [1, 2]);
    assert.deepEqual(
      events.map((e) => e.kind),
      ["exists", "exists", "expunge"],
    );
    const exp = events[2] as Extract<MailboxEvent, { kind: "expunge" }>;
    assert.deepEqual(exp.uids, [1, 3]);
    assert.equal(exp.mailboxId, inbox);
    const { vanished } = await store.changesSince(inbox, 3);
    assert.deepEqual(vanished, [1, 3]);
    assert.equal((await store.checkIntegrity()).ok, true);
  });
});

test("changesSince: appended and changed messages above the MODSEQ, ascending", async () => {
  await withStore(async ({ store, inbox }) => {
    for (let i = 1; i <= 4; i++) await store.appendMessage(inbox, { body: msg(i) });
    const since = (await store.mailboxStatus(inbox)).highestModseq;
    assert.deepEqual(await store.changesSince(inbox, since), { changed: [], vanished: [] });
    await store.storeFlags(inbox, [3], "add", ["\\Answered"]);
    await store.appendMessage(inbox, { body: msg(5) });
    await store.storeFlags(inbox, [1], "add", ["\\Seen"]);
    const ch = await store.changesSince(inbox, since);
    assert.deepEqual(ch.changed.map((m) => m.uid), [1, 3, 5]);
    assert.deepEqual(ch.changed[1]!.flags, ["\\Answered"]);
    assert.equal((await store.changesSince(inbox, 0)).changed.length, 5);
    await assert.rejects(store.changesSince(999, 0), code("not-found"));
  });
});

test("quota: append, deliver and copy refused over quota; nothing stored", async () => {
  await withStore(async ({ store, dir, accountId, inbox, trash }) => {
    const small = Buffer.alloc(100, 0x61);
    await store.setQuota(accountId, 250);
    await store.appendMessage(inbox, { body: small });
    await store.appendMessage(trash, { body: small });
    await assert.rejects(store.appendMessage(inbox, { body: small }), (e: unknown) => code("over-quota")(e) && /user@example.test/.test((e as Error).message));
    assert.equal(await store.quotaUsage(accountId), 200);
    await store.appendMessage(inbox, { body: Buffer.alloc(50) }); // exactly at the quota is fine
    await assert.rejects(store.copyMessages(inbox, [1], trash), code("over-quota"));

    const other = await store.createAccount("other@example.test", { quotaBytes: 1000 });
    const oin = (await store.getMailbox(other.id, "INBOX"))!.id;
    await assert.rejects(store.deliver([oin, inbox], { body: small }), code("over-quota"));
    assert.equal((await store.mailboxStatus(oin)).messages, 0); // all or nothing
    const res = await store.deliver([oin], { body: small });
    assert.equal(res.length, 1);
    assert.equal((await blobFiles(dir)).length, 4);
    await store.setQuota(accountId, null);
    await store.appendMessage(inbox, { body: small });
    assert.equal((await store.checkIntegrity()).ok, true);
  });
});

test("deliver: one body file shared by all targets, visible together, deleted with the last entry", async () => {
  await withStore(async ({ store, dir, inbox }) => {
    const b = await store.createAccount("b@example.test");
    const binbox = (await store.getMailbox(b.id, "INBOX"))!.id;
    const res = await store.deliver([inbox, binbox], { body: msg("both"), flags: ["$Forwarded"] });
    assert.deepEqual(res.map((r) => [r.mailboxId, r.uid]), [[inbox, 1], [binbox, 1]]);
    assert.equal((await blobFiles(dir)).length, 1);
    assert.deepEqual(await store.readBody(res[1]!.id), msg("both"));
    await store.expunge(inbox, [1]);
    assert.equal((await blobFiles(dir)).length, 1);
    await store.deleteMailbox(binbox);
    assert.equal((await blobFiles(dir)).length, 0);
    await assert.rejects(store.deliver([inbox, 4242], { body: msg(1) }), code("not-found"));
    assert.equal((await blobFiles(dir)).length, 0);
    assert.equal((await store.checkIntegrity()).ok, true);
  });
});

test("subscribe: events after the commit, per mailbox, unsubscribe works, a throwing listener harms no one", async () => {
  await withStore(async ({ store, inbox, trash }) => {
    const seen: MailboxEvent[] = [];
    const trashSeen: MailboxEvent[] = [];
    store.subscribe(inbox, () => {
      throw new Error("bad listener");
    });
    const off = store.subscribe(inbox, (e) => {
      seen.push(e);
      if (e.kind === "exists") {
        // The row is committed when the event fires: a synchronous read already sees it.
        assert.ok(e.uid > 0);
      }
    });
    store.subscribe(trash, (e) => trashSeen.push(e));
    const r = await store.appendMessage(inbox, { body: msg(1) });
    assert.deepEqual(seen, [{ kind: "exists", mailboxId: inbox, uid: 1, modseq: r.modseq }]);
    const f = await store.storeFlags(inbox, [1], "add", ["\\Deleted"]);
    assert.deepEqual(seen[1], { kind: "flags", mailboxId: inbox, changes: f.changed });
    await store.expunge(inbox);
    assert.equal(seen[2]!.kind, "expunge");
    assert.deepEqual((seen[2] as Extract<MailboxEvent, { kind: "expunge" }>).uids, [1]);
    off();
    await store.appendMessage(inbox, { body: msg(2) });
    assert.equal(seen.length, 3);
    assert.equal(trashSeen.length, 0);
    await store.deleteMailbox(trash);
    assert.deepEqual(trashSeen, [{ kind: "deleted", mailboxId: trash }]);
  });
});

test("concurrent appends all commit with distinct ascending UIDs", async () => {
  await withStore(async ({ store, inbox }) => {
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => store.appendMessage(inbox, { body: msg(i) })));
    const uids = results.map((r) => r.uid).sort((a, b) => a - b);
    assert.deepEqual(uids, Array.from({ length: 50 }, (_, i) => i + 1));
    const modseqs = new Set(results.map((r) => r.modseq));
    assert.equal(modseqs.size, 50);
    for (const r of results) {
      const [m] = await store.getMessages(inbox, [r.uid]);
      assert.equal(m!.id, r.id);
    }
    // One over-quota append in a concurrent batch fails alone.
    const acct = (await store.listAccounts())[0]!;
    await store.setQuota(acct.id, (await store.quotaUsage(acct.id)) + 100);
    const mixed = await Promise.allSettled([
      store.appendMessage(inbox, { body: Buffer.alloc(60) }),
      store.appendMessage(inbox, { body: Buffer.alloc(60) }),
      store.appendMessage(inbox, { body: Buffer.alloc(30) }),
    ]);
    // Commit order follows whichever body file is durable first, so either 60-byte append may lose.
    assert.equal(mixed.filter((m) => m.status === "rejected").length, 1);
    assert.equal(mixed[2]!.status, "fulfilled");
    const lost = mixed.find((m) => m.status === "rejected") as PromiseRejectedResult;
    assert.ok(code("over-quota")(lost.reason));
    assert.equal((await store.checkIntegrity()).ok, true);
  });
});

test("events arrive in commit order across concurrent writes", async () => {
  await withStore(async ({ store, accountId, inbox }) => {
    for (let i = 1; i <= 3; i++) await store.appendMessage(inbox, { body: msg(i) });
    const events: MailboxEvent[] = [];
    store.subscribe(inbox, (e) => events.push(e));
    await store.setQuota(accountId, (await store.quotaUsage(accountId)) + msg(4).length);
    // Submitted together; the expunge frees a body file (unlinked after its commit).
    const results = await Promise.allSettled([
      store.expunge(inbox, [1]),
      store.appendMessage(inbox, { body: msg(4) }),
      store.storeFlags(inbox, [2], "add", ["\\Seen"]),
      store.appendMessage(inbox, { body: msg(5) }),
    ]);
    // Both appends fit only because the expunge committed first (it and the STORE need no body write).
    assert.deepEqual(results.map((r) => r.status), ["fulfilled", "fulfilled", "fulfilled", "fulfilled"]);
    assert.deepEqual(events.map((e) => e.kind), ["expunge", "flags", "exists", "exists"]);
    // Each change took the next MODSEQ at its commit; events follow that order exactly.
    const modseqs = events.map((e) => (e.kind === "flags" ? e.changes[0]!.modseq : e.kind === "deleted" ? 0 : e.modseq));
    assert.deepEqual(modseqs, [...modseqs].sort((a, b) => a - b));
    assert.equal(new Set(modseqs).size, 4);
    assert.equal((await store.mailboxStatus(inbox)).highestModseq, Math.max(...modseqs));
  });
});

// ---------------------------------------------------------------- bodies kept in the database

/** Small bodies in the database, as the store keeps them by default. */
const withInlineStore = (fn: (f: Fixture) => Promise<void>): Promise<void> => withStore(fn, {});

const blobDataRows = async (dir: string): Promise<number> => {
  const { default: Database } = await import("better-sqlite3");
  const db = new Database(path.join(dir, "store", "portcullis.db"), { readonly: true });
  try {
    return (db.prepare("SELECT count(*) AS n FROM blob_data").get() as { n: number }).n;
  } finally {
    db.close();
  }
};

const readAll = async (r: NodeJS.ReadableStream): Promise<string> => {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(Buffer.from(c as Buffer));
  return Buffer.concat(parts).toString();
};

test("inline bodies: a small message gets no file; read whole and by range; survives a reopen", async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "portcullis-store-"));
  try {
    let store = await openStore(dir);
    await store.addDomain("example.test");
    const a = await store.createAccount("user@example.test");
    const inbox = (await store.getMailbox(a.id, "INBOX"))!.id;
    const body = msg("inline");
    const r = await store.appendMessage(inbox, { body });
    assert.deepEqual(await blobFiles(dir), [], "no body file");
    assert.equal(await blobDataRows(dir), 1);
    assert.deepEqual(await store.readBody(r.id), body);
    assert.equal(await readAll(await store.openBody(r.id)), body.toString());
    assert.equal(await readAll(await store.openBody(r.id, { start: 9 })), body.subarray(9).toString());
    assert.equal(await readAll(await store.openBody(r.id, { start: 0, end: 6 })), "Subject"); // end inclusive
    assert.equal(await readAll(await store.openBody(r.id, { start: 5, end: 10_000 })), body.subarray(5).toString());
    assert.equal(await readAll(await store.openBody(r.id, { start: 10_000 })), "");
    await store.close();
    store = await openStore(dir);
    assert.deepEqual(await store.readBody(r.id), body, "committed with its row: still there after a reopen");
    assert.deepEqual((await store.checkIntegrity()).problems, []);
    await store.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("inline bodies: shared by COPY and by deliver to several mailboxes, deleted with the last reference", async () => {
  await withInlineStore(async ({ store, dir, inbox, trash }) => {
    const [x] = await store.deliver([inbox, trash], { body: msg("shared") });
    assert.equal(await blobDataRows(dir), 1, "one row for both mailboxes");
    await store.copyMessages(inbox, [x!.uid], inbox);
    assert.equal(await blobDataRows(dir), 1, "COPY shares it");
    await store.expunge(inbox, (await store.listMessages(inbox)).map((m) => m.uid));
    assert.equal((await store.listMessages(inbox)).length, 0);
    assert.equal(await blobDataRows(dir), 1, "still referenced from Trash");
    const [t] = await store.listMessages(trash);
    assert.deepEqual(await store.readBody(t!.id), msg("shared"));
    await store.expunge(trash, [t!.uid]);
    assert.equal(await blobDataRows(dir), 0, "gone with the last reference");
    assert.deepEqual((await store.checkIntegrity()).problems, []);
  });
});

test("inline bodies: a body over the inline limit, or handed over as a file, is a file", async () => {
  await withInlineStore(async ({ store, dir, inbox }) => {
    const big = Buffer.concat([msg("big"), Buffer.alloc(200 * 1024, "x"), Buffer.from("\r\n")]);
    const r1 = await store.appendMessage(inbox, { body: big });
    const f = path.join(dir, "incoming.eml");
    await writeFile(f, msg("file"));
    const r2 = await store.appendMessage(inbox, { body: { path: f, size: msg("file").length } });
    assert.equal((await blobFiles(dir)).length, 2);
    assert.equal(await blobDataRows(dir), 0);
    assert.deepEqual(await store.readBody(r1.id), big);
    assert.deepEqual(await store.readBody(r2.id), msg("file"));
  });
});

test("inline bodies: the queue keeps small bodies inline too, and drops them with the entry", async () => {
  await withInlineStore(async ({ store, dir }) => {
    const q = await store.enqueue({ sender: "a@example.test", recipients: ["b@remote.test"], domain: "remote.test", body: msg("queued") });
    assert.deepEqual(await blobFiles(dir), []);
    assert.equal(await readAll(await store.openQueuedBody(q.id)), msg("queued").toString());
    await store.deleteQueued(q.id);
    assert.equal(await blobDataRows(dir), 0);
  });
});

test("inline bodies: checkIntegrity reports a stored body whose length is not the recorded size", async () => {
  await withInlineStore(async ({ store, dir, inbox }) => {
    await store.appendMessage(inbox, { body: msg("tampered") });
    const { default: Database } = await import("better-sqlite3");
    const db = new Database(path.join(dir, "store", "portcullis.db"));
    db.prepare("UPDATE blob_data SET data = ?").run(Buffer.from("short"));
    db.close();
    const report = await store.checkIntegrity();
    assert.equal(report.ok, false);
    assert.match(report.problems.join("\n"), /stored body has 5 bytes, expected \d+/);
  });
});
