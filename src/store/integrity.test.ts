import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, readdir, writeFile, unlink, appendFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { openStore } from "./index.js";
import { SCHEMA_VERSION } from "./db.js";

/** These tests are about body files: every body goes to a file (small bodies are otherwise kept
 * in the database; inline bodies have their own tests in messages.test.ts). */
const FILE_BODIES = { inlineMax: 0 };

async function setup(): Promise<{ dir: string; files: () => Promise<string[]> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "portcullis-store-"));
  const files = async (): Promise<string[]> => {
    const out: string[] = [];
    const root = path.join(dir, "store", "blobs");
    for (const d of await readdir(root)) if (d !== "tmp") for (const f of await readdir(path.join(root, d))) out.push(path.join(root, d, f));
    return out;
  };
  return { dir, files };
}

test("checkIntegrity is ok on a consistent store and reports counts", async () => {
  const { dir } = await setup();
  const store = await openStore(dir, FILE_BODIES);
  try {
    await store.addDomain("example.test");
    const a = await store.createAccount("u@example.test");
    const inbox = (await store.getMailbox(a.id, "INBOX"))!.id;
    await store.deliver([inbox, (await store.getMailbox(a.id, "Archive"))!.id], { body: Buffer.from("x\r\n") });
    await store.appendMessage(inbox, { body: Buffer.from("y\r\n") });
    await store.enqueue({ sender: "", recipients: ["a@b.test"], domain: "b.test", body: Buffer.from("q\r\n") });
    assert.deepEqual(await store.checkIntegrity(), { ok: true, problems: [], messages: 3, blobs: 3 });
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test("checkIntegrity reports a truncated, a missing and an unreferenced file, and wrong counters", async () => {
  const { dir, files } = await setup();
  let store = await openStore(dir, FILE_BODIES);
  try {
    await store.addDomain("example.test");
    const a = await store.createAccount("u@example.test");
    const inbox = (await store.getMailbox(a.id, "INBOX"))!.id;
    await store.appendMessage(inbox, { body: Buffer.from("first message\r\n") });
    await store.appendMessage(inbox, { body: Buffer.from("second message\r\n") });
    const [f1, f2] = await files();
    await appendFile(f1!, "garbage");
    await unlink(f2!);
    const stray = path.join(path.dirname(f1!), "0123456789abcdef01234567");
    await writeFile(stray, "stray");
    await store.close();

    const db = new Database(path.join(dir, "store", "portcullis.db"));
    db.prepare("UPDATE mailboxes SET messages = 7 WHERE id = ?").run(inbox);
    db.close();

    store = await openStore(dir, FILE_BODIES); // the owner's open removes the stray file
    let report = await store.checkIntegrity();
    assert.equal(report.ok, false);
    assert.equal(report.messages, 2);
    const text = report.problems.join("\n");
    assert.match(text, /file has \d+ bytes, expected \d+/);
    assert.match(text, /file is missing/);
    assert.match(text, /counter says 7 messages, there are 2/);
    assert.doesNotMatch(text, /0123456789abcdef01234567/);
    assert.equal(report.problems.length, 3);

    // A file appearing while the store is open is reported (a crash or a foreign file).
    await writeFile(stray, "stray");
    report = await store.checkIntegrity();
    assert.match(report.problems.join("\n"), /0123456789abcdef01234567: no message refers to it/);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test("opening cleans temp files and bodies no row names", async () => {
  const { dir, files } = await setup();
  let store = await openStore(dir, FILE_BODIES);
  try {
    await store.addDomain("example.test");
    const a = await store.createAccount("u@example.test");
    const inbox = (await store.getMailbox(a.id, "INBOX"))!.id;
    await store.appendMessage(inbox, { body: Buffer.from("kept\r\n") });
    await store.close();
    const root = path.join(dir, "store", "blobs");
    await writeFile(path.join(root, "tmp", "aaaaaaaaaaaaaaaaaaaaaaaa"), "half a mess");
    await writeFile(path.join(root, "ab", "abababababababababababab"), "renamed, never committed");
    store = await openStore(dir, FILE_BODIES);
    assert.equal((await files()).length, 1);
    assert.deepEqual(await readdir(path.join(root, "tmp")), []);
    assert.deepEqual((await store.checkIntegrity()).problems, []);
    const [m] = await store.listMessages(inbox);
    assert.deepEqual(await store.readBody(m!.id), Buffer.from("kept\r\n"));

    // A second store opened in the same process is not the owner and deletes nothing.
    await writeFile(path.join(root, "cd", "cdcdcdcdcdcdcdcdcdcdcdcd"), "in flight");
    const second = await openStore(dir, FILE_BODIES);
    assert.equal((await files()).length, 2);
    await second.close();
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test("schema: a database from a newer Portcullis is refused, and the schema version is recorded", async () => {
  const { dir } = await setup();
  try {
    const store = await openStore(dir, FILE_BODIES);
    await store.close();
    const file = path.join(dir, "store", "portcullis.db");
    let db = new Database(file);
    assert.deepEqual(db.prepare("SELECT version FROM schema_version").all(), [{ version: SCHEMA_VERSION }]);
    db.prepare("UPDATE schema_version SET version = 99").run();
    db.close();
    await assert.rejects(openStore(dir, FILE_BODIES), /schema version 99 is newer/);
    db = new Database(file);
    db.prepare("UPDATE schema_version SET version = ?").run(SCHEMA_VERSION);
    db.close();
    const again = await openStore(dir, FILE_BODIES); // the failed open released ownership
    await again.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
