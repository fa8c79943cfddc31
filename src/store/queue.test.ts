import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, readdir } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { openStore } from "./index.js";
import { StoreError, type Store } from "./types.js";

/** These tests are about body files: every body goes to a file (small bodies are otherwise kept
 * in the database; inline bodies have their own tests in messages.test.ts). */
const FILE_BODIES = { inlineMax: 0 };

async function withStore(fn: (store: Store, dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "portcullis-store-"));
  const store = await openStore(dir, FILE_BODIES);
  try {
    await fn(store, dir);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const code = (c: StoreError["code"]) => (e: unknown) => e instanceof StoreError && e.code === c;

async function read(s: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

test("enqueue: random URL-safe id, pending recipients, body kept durably", async () => {
  await withStore(async (store) => {
    const body = Buffer.from("From: a@example.test\r\nTo: x@remote.test\r\n\r\nhi\r\n");
    const before = Date.now();
    const q = await store.enqueue({
      sender: "A@Example.test",
      recipients: ["X@remote.test", "y@remote.test"],
      domain: "Remote.TEST",
      body,
      meta: { account: 7, dsn: { ret: "HDRS" } },
    });
    assert.match(q.id, /^[0-9a-f]{16}$/);
    assert.equal(q.sender, "a@example.test");
    assert.equal(q.domain, "remote.test");
    assert.deepEqual(q.recipients, [
      { address: "x@remote.test", status: "pending", lastReply: null },
      { address: "y@remote.test", status: "pending", lastReply: null },
    ]);
    assert.equal(q.size, body.length);
    assert.equal(q.attempts, 0);
    assert.equal(q.lastError, null);
    assert.equal(q.delayNoticeSent, false);
    assert.deepEqual(q.meta, { account: 7, dsn: { ret: "HDRS" } });
    assert.ok(q.createdAt.getTime() >= before);
    assert.equal(q.nextAttemptAt.getTime(), q.createdAt.getTime());
    assert.deepEqual(await store.getQueued(q.id), q);
    assert.deepEqual(await read(await store.openQueuedBody(q.id)), body);

    const nul = await store.enqueue({ sender: "", recipients: ["z@remote.test"], domain: "remote.test", body });
    assert.equal(nul.sender, "");
    assert.equal(nul.meta, null);
    assert.notEqual(nul.id, q.id);
    await assert.rejects(store.enqueue({ sender: "a@b", recipients: [], domain: "remote.test", body }), code("invalid"));
    await assert.rejects(store.enqueue({ sender: "a@b\r\nX: y", recipients: ["z@r"], domain: "remote.test", body }), code("invalid"));
    assert.equal(await store.getQueued("0000000000000000"), null);
    await assert.rejects(store.openQueuedBody("0000000000000000"), code("not-found"));
  });
});

test("listQueue, dueQueue (oldest first, limited), updateQueued, deleteQueued removes the body file", async () => {
  await withStore(async (store, dir) => {
    const body = Buffer.from("Subject: q\r\n\r\nx\r\n");
    const a = await store.enqueue({ sender: "s@example.test", recipients: ["r@one.test"], domain: "one.test", body });
    await new Promise((r) => setTimeout(r, 5));
    const b = await store.enqueue({ sender: "s@example.test", recipients: ["r@two.test"], domain: "two.test", body });
    await new Promise((r) => setTimeout(r, 5));
    const c = await store.enqueue({ sender: "s@example.test", recipients: ["r@three.test"], domain: "three.test", body });
    assert.deepEqual((await store.listQueue()).map((q) => q.id), [a.id, b.id, c.id]);

    const later = new Date(Date.now() + 3600e3);
    await store.updateQueued(b.id, {
      nextAttemptAt: later,
      attempts: 1,
      lastError: "451 4.7.1 try later",
      delayNoticeSent: true,
      recipients: [{ address: "r@two.test", status: "pending", lastReply: "451 4.7.1 try later" }],
      meta: { x: 1 },
    });
    const ub = (await store.getQueued(b.id))!;
    assert.equal(ub.nextAttemptAt.getTime(), later.getTime());
    assert.equal(ub.attempts, 1);
    assert.equal(ub.lastError, "451 4.7.1 try later");
    assert.equal(ub.delayNoticeSent, true);
    assert.equal(ub.recipients[0]!.lastReply, "451 4.7.1 try later");
    assert.deepEqual(ub.meta, { x: 1 });
    await store.updateQueued(b.id, { lastError: null });
    assert.equal((await store.getQueued(b.id))!.lastError, null);
    assert.equal((await store.getQueued(b.id))!.attempts, 1);

    const now = new Date();
    assert.deepEqual((await store.dueQueue(now, 10)).map((q) => q.id), [a.id, c.id]);
    assert.deepEqual((await store.dueQueue(now, 1)).map((q) => q.id), [a.id]);
    assert.deepEqual((await store.dueQueue(new Date(later.getTime() + 1), 10)).map((q) => q.id), [a.id, b.id, c.id]);
    assert.deepEqual(await store.dueQueue(new Date(0), 10), []);

    await assert.rejects(store.updateQueued("ffffffffffffffff", { attempts: 2 }), code("not-found"));
    const files = async (): Promise<number> => {
      let n = 0;
      const root = path.join(dir, "store", "blobs");
      for (const d of await readdir(root)) if (d !== "tmp") n += (await readdir(path.join(root, d))).length;
      return n;
    };
    assert.equal(await files(), 3);
    await store.deleteQueued(a.id);
    assert.equal(await store.getQueued(a.id), null);
    assert.equal(await files(), 2);
    await assert.rejects(store.deleteQueued(a.id), code("not-found"));
    assert.equal((await store.checkIntegrity()).ok, true);
  });
});

test("the queue survives a restart", async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "portcullis-store-"));
  try {
    let store = await openStore(dir, FILE_BODIES);
    const q = await store.enqueue({ sender: "s@example.test", recipients: ["r@one.test"], domain: "one.test", body: Buffer.from("x\r\n") });
    await store.close();
    store = await openStore(dir, FILE_BODIES);
    assert.deepEqual(await store.getQueued(q.id), q);
    assert.deepEqual(await read(await store.openQueuedBody(q.id)), Buffer.from("x\r\n"));
    await store.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
