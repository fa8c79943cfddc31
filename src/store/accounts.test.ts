import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, readdir, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { openStore } from "./index.js";
import { DEFAULT_MAILBOXES, StoreError, type Credentials, type Store } from "./types.js";

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

const creds: Credentials = {
  passwordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
  scram: { salt: Buffer.from("salt"), iterations: 4096, storedKey: Buffer.alloc(32, 1), serverKey: Buffer.alloc(32, 2) },
};

test("domains: add, get, list, catch-all, delete refused while in use", async () => {
  await withStore(async (store) => {
    const d = await store.addDomain("Example.TEST.");
    assert.equal(d.name, "example.test");
    assert.equal(d.catchAll, null);
    await assert.rejects(store.addDomain("example.test"), code("exists"));
    await store.addDomain("b.test");
    assert.deepEqual((await store.listDomains()).map((x) => x.name), ["b.test", "example.test"]);
    assert.equal((await store.getDomain("EXAMPLE.test"))?.id, d.id);
    assert.equal(await store.getDomain("nowhere.test"), null);

    await assert.rejects(store.setCatchAll("example.test", "nobody@example.test"), code("not-found"));
    await store.createAccount("boss@example.test");
    await store.setCatchAll("example.test", "Boss@Example.test");
    assert.equal((await store.getDomain("example.test"))?.catchAll, "boss@example.test");

    await assert.rejects(store.deleteDomain("example.test"), code("in-use"));
    await assert.rejects(store.deleteDomain("none.test"), code("not-found"));
    await store.deleteDomain("b.test");
    assert.equal(await store.getDomain("b.test"), null);
    await store.deleteAccount("boss@example.test");
    assert.equal((await store.getDomain("example.test"))?.catchAll, null);
    await store.deleteDomain("example.test");
    assert.deepEqual(await store.listDomains(), []);
  });
});

test("accounts: create lower-cases, makes the default mailboxes, refuses duplicates and unknown domains", async () => {
  await withStore(async (store) => {
    await assert.rejects(store.createAccount("user@example.test"), code("not-found"));
    await store.addDomain("example.test");
    const a = await store.createAccount("User.Name@Example.Test", { credentials: creds, quotaBytes: 1000 });
    assert.equal(a.address, "user.name@example.test");
    assert.equal(a.quotaBytes, 1000);
    assert.equal(a.disabled, false);
    assert.ok(a.createdAt instanceof Date);
    assert.deepEqual(a.credentials, creds);
    await assert.rejects(store.createAccount("USER.NAME@example.test"), code("exists"));
    await assert.rejects(store.createAccount("not-an-address"), code("invalid"));

    const boxes = await store.listMailboxes(a.id);
    assert.deepEqual(
      boxes.map((m) => [m.name, m.specialUse]).sort(),
      DEFAULT_MAILBOXES.map((m) => [m.name, m.specialUse]).sort(),
    );
    assert.equal(boxes[0]!.name, "INBOX");
    for (const m of boxes) {
      assert.equal(m.uidNext, 1);
      assert.equal(m.highestModseq, 0);
      assert.ok(m.uidValidity > 0 && m.uidValidity <= 0xffffffff);
    }

    assert.equal((await store.getAccount("USER.NAME@EXAMPLE.TEST"))?.id, a.id);
    assert.equal((await store.getAccountById(a.id))?.address, a.address);
    assert.equal(await store.getAccount("other@example.test"), null);
    assert.equal(await store.getAccount("garbage"), null);
    assert.equal(await store.getAccountById(9999), null);
  });
});

test("accounts: list by domain, credentials and quota updates, usage", async () => {
  await withStore(async (store) => {
    await store.addDomain("a.test");
    await store.addDomain("b.test");
    const x = await store.createAccount("x@a.test");
    await store.createAccount("y@b.test");
    await store.createAccount("w@a.test");
    assert.deepEqual((await store.listAccounts()).map((a) => a.address), ["w@a.test", "x@a.test", "y@b.test"]);
    assert.deepEqual((await store.listAccounts("A.test")).map((a) => a.address), ["w@a.test", "x@a.test"]);

    assert.equal(x.credentials, null);
    await store.setCredentials(x.id, creds);
    assert.deepEqual((await store.getAccountById(x.id))?.credentials, creds);
    await assert.rejects(store.setCredentials(424242, creds), code("not-found"));

    await store.setQuota(x.id, 5000);
    assert.equal((await store.getAccountById(x.id))?.quotaBytes, 5000);
    await store.setQuota(x.id, null);
    assert.equal((await store.getAccountById(x.id))?.quotaBytes, null);
    await assert.rejects(store.setQuota(x.id, -1), code("invalid"));

    assert.equal(await store.quotaUsage(x.id), 0);
    const inbox = (await store.getMailbox(x.id, "INBOX"))!;
    const sent = (await store.getMailbox(x.id, "Sent"))!;
    await store.appendMessage(inbox.id, { body: Buffer.from("a\r\n\r\nhello\r\n") }); // 12 octets
    await store.appendMessage(sent.id, { body: Buffer.from("b\r\n\r\nhi\r\n") }); // 9 octets
    assert.equal(await store.quotaUsage(x.id), 12 + 9);
  });
});

test("deleteAccount removes mailboxes, messages and their files, and alias targets", async () => {
  await withStore(async (store, dir) => {
    await store.addDomain("example.test");
    const a = await store.createAccount("a@example.test");
    const b = await store.createAccount("b@example.test");
    await store.addAlias("team@example.test", ["a@example.test", "b@example.test"]);
    await store.addAlias("solo@example.test", ["a@example.test"]);
    const inbox = (await store.getMailbox(a.id, "INBOX"))!;
    for (let i = 0; i < 5; i++) await store.appendMessage(inbox.id, { body: Buffer.from(`Subject: ${i}\r\n\r\nbody ${i}\r\n`) });
    const binbox = (await store.getMailbox(b.id, "INBOX"))!;
    await store.appendMessage(binbox.id, { body: Buffer.from("Subject: b\r\n\r\nkeep me\r\n") });

    const countFiles = async (): Promise<number> => {
      let n = 0;
      const root = path.join(dir, "store", "blobs");
      for (const d of await readdir(root)) if (d !== "tmp") n += (await readdir(path.join(root, d))).length;
      return n;
    };
    assert.equal(await countFiles(), 6);

    const events: string[] = [];
    store.subscribe(inbox.id, (e) => events.push(e.kind));
    await store.deleteAccount("A@example.test");
    assert.deepEqual(events, ["deleted"]);
    assert.equal(await store.getAccount("a@example.test"), null);
    assert.deepEqual(await store.listMailboxes(a.id), []);
    assert.equal(await store.getMailboxById(inbox.id), null);
    assert.equal(await countFiles(), 1);
    assert.deepEqual(await store.getAlias("team@example.test"), { address: "team@example.test", targets: ["b@example.test"] });
    assert.equal(await store.getAlias("solo@example.test"), null);
    assert.equal((await store.checkIntegrity()).ok, true);
    await assert.rejects(store.deleteAccount("a@example.test"), code("not-found"));
  });
});

test("aliases: add, get, list, delete; targets must be local accounts; no clash with accounts", async () => {
  await withStore(async (store) => {
    await store.addDomain("example.test");
    await store.addDomain("other.test");
    await store.createAccount("a@example.test");
    await store.createAccount("b@other.test");
    const al = await store.addAlias("Postmaster@Example.test", ["A@example.test", "a@example.test", "b@other.test"]);
    assert.deepEqual(al, { address: "postmaster@example.test", targets: ["a@example.test", "b@other.test"] });
    await assert.rejects(store.addAlias("postmaster@example.test", ["a@example.test"]), code("exists"));
    await assert.rejects(store.addAlias("a@example.test", ["b@other.test"]), code("exists"));
    await assert.rejects(store.addAlias("x@example.test", ["ghost@example.test"]), code("not-found"));
    await assert.rejects(store.addAlias("x@nowhere.test", ["a@example.test"]), code("not-found"));
    await assert.rejects(store.addAlias("x@example.test", []), code("invalid"));
    await assert.rejects(store.createAccount("postmaster@example.test"), code("exists"));
    await store.addAlias("abuse@other.test", ["b@other.test"]);
    assert.deepEqual((await store.listAliases()).map((a) => a.address), ["abuse@other.test", "postmaster@example.test"]);
    assert.deepEqual((await store.listAliases("other.test")).map((a) => a.address), ["abuse@other.test"]);
    assert.deepEqual((await store.getAlias("POSTMASTER@example.test"))?.targets, ["a@example.test", "b@other.test"]);
    await store.deleteAlias("postmaster@example.test");
    assert.equal(await store.getAlias("postmaster@example.test"), null);
    await assert.rejects(store.deleteAlias("postmaster@example.test"), code("not-found"));
  });
});

test("bans persist across restarts", async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "portcullis-store-"));
  try {
    let store = await openStore(dir, FILE_BODIES);
    const created = new Date(Date.UTC(2026, 0, 1));
    await store.putBan({ subject: "192.0.2.7", reason: "auth failures", createdAt: created, expiresAt: new Date(created.getTime() + 3600e3), offences: 1 });
    await store.putBan({ subject: "2001:db8::/64", reason: "manual", createdAt: created, expiresAt: null, offences: 3 });
    await store.putBan({ subject: "192.0.2.7", reason: "again", createdAt: created, expiresAt: null, offences: 2 });
    await store.close();
    store = await openStore(dir, FILE_BODIES);
    const bans = await store.getBans();
    assert.deepEqual(bans, [
      { subject: "192.0.2.7", reason: "again", createdAt: created, expiresAt: null, offences: 2 },
      { subject: "2001:db8::/64", reason: "manual", createdAt: created, expiresAt: null, offences: 3 },
    ]);
    assert.equal(await store.deleteBan("192.0.2.7"), true);
    assert.equal(await store.deleteBan("192.0.2.7"), false);
    assert.equal((await store.getBans()).length, 1);
    await store.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("store directories are 0700 and files 0600", async () => {
  await withStore(async (store, dir) => {
    await store.addDomain("example.test");
    const a = await store.createAccount("a@example.test");
    const inbox = (await store.getMailbox(a.id, "INBOX"))!;
    const r = await store.appendMessage(inbox.id, { body: Buffer.from("Subject: x\r\n\r\ny\r\n") });
    const root = path.join(dir, "store");
    assert.equal((await stat(root)).mode & 0o777, 0o700);
    assert.equal((await stat(path.join(root, "blobs"))).mode & 0o777, 0o700);
    assert.equal((await stat(path.join(root, "blobs", "tmp"))).mode & 0o777, 0o700);
    for (const f of await readdir(root)) {
      const st = await stat(path.join(root, f));
      if (st.isFile()) assert.equal(st.mode & 0o777, 0o600, `${f} mode`);
    }
    assert.ok((await readdir(root)).includes("portcullis.db-wal"));
    let found = 0;
    for (const d of await readdir(path.join(root, "blobs"))) {
      const sub = path.join(root, "blobs", d);
      assert.equal((await stat(sub)).mode & 0o777, 0o700, `${d} mode`);
      for (const f of await readdir(sub)) {
        found++;
        assert.equal((await stat(path.join(sub, f))).mode & 0o777, 0o600);
      }
    }
    assert.equal(found, 1);
    assert.equal(r.uid, 1);
  });
});

test("a closed store refuses calls", async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "portcullis-store-"));
  const store = await openStore(dir, FILE_BODIES);
  await store.close();
  await store.close();
  await assert.rejects(store.listDomains(), /closed/);
  await rm(dir, { recursive: true, force: true });
});
