import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { openStore } from "./index.js";
import type { Store } from "./types.js";
import { extractSearchText } from "./text.js";

async function withStore(fn: (s: Store, inbox: number, trash: number, dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "portcullis-fts-"));
  const store = await openStore(dir);
  try {
    await store.addDomain("example.test");
    const a = await store.createAccount("user@example.test");
    const inbox = (await store.getMailbox(a.id, "INBOX"))!.id;
    const trash = (await store.getMailbox(a.id, "Trash"))!.id;
    await fn(store, inbox, trash, dir);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Reads the store's two databases: portcullis.db, with the search index (text.db) attached as
 * `txt`. `live` counts index rows that name a current blob (stale rows of deleted blobs never
 * match a search and are collected later). */
function inspect<T>(dir: string, fn: (db: Database.Database) => T): T {
  const db = new Database(path.join(dir, "store", "portcullis.db"), { readonly: true });
  try {
    db.prepare("ATTACH DATABASE ? AS txt").run(path.join(dir, "store", "text.db"));
    return fn(db);
  } finally {
    db.close();
  }
}
const count = (dir: string, sql: string, ...args: unknown[]): number => inspect(dir, (db) => db.prepare(sql).pluck(true).get(...args) as number);
const LIVE_MATCHES =
  "SELECT count(*) FROM txt.message_text t JOIN txt.indexed i ON i.blob_id = t.rowid JOIN blobs b ON b.id = i.blob_id AND b.name = i.name WHERE message_text MATCH ?";

const crlf = (s: string): Buffer => Buffer.from(s.replace(/\r?\n/g, "\r\n"));

const plain = crlf("Subject: Quarterly Report\nFrom: alice@example.test\n\nThe Budget is approved.\n");
const qp = crlf(
  "Subject: =?ISO-8859-1?Q?Gr=FC=DFe?=\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\nSch=F6ne Gr=FC=DFe aus M=FCnchen, mit einer sehr langen Zeile die umgebrochen=\n wird.\n",
);
const b64 = crlf(
  `Subject: b64\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n${Buffer.from("Привет, мир! Ёлка").toString("base64")}\n`,
);
const multi = crlf(
  [
    "Subject: alternative",
    'Content-Type: multipart/mixed; boundary="outer"',
    "",
    "preamble nobody sees",
    "--outer",
    'Content-Type: multipart/alternative; boundary="inner"',
    "",
    "--inner",
    "Content-Type: text/plain",
    "",
    "plain version",
    "--inner",
    "Content-Type: text/html; charset=utf-8",
    "",
    "<p>HTML <b>only</b> words: zebracorn</p>",
    "--inner--",
    "--outer",
    "Content-Type: application/octet-stream",
    "Content-Transfer-Encoding: base64",
    "",
    Buffer.from("secretbinaryword").toString("base64"),
    "--outer--",
    "",
  ].join("\n"),
);

test("extractSearchText decodes parts, charsets and encoded words, and skips binary leaves", () => {
  const q = extractSearchText(qp);
  assert.match(q.header, /grüße/);
  assert.match(q.body, /schöne grüße aus münchen/);
  assert.match(q.body, /umgebrochen wird/);
  assert.match(extractSearchText(b64).body, /привет, мир! ёлка/);
  const m = extractSearchText(multi);
  assert.match(m.body, /plain version/);
  assert.match(m.body, /zebracorn/);
  assert.doesNotMatch(m.body, /preamble|secretbinaryword/);
  assert.doesNotMatch(m.body, /subject/);
  assert.match(m.header, /subject: alternative/);
});

test("searchText: filled on append and deliver, case-insensitive substrings, BODY vs TEXT, AND", async () => {
  await withStore(async (store, inbox, trash) => {
    await store.appendMessage(inbox, { body: plain }); // uid 1
    await store.appendMessage(inbox, { body: qp }); // uid 2
    await store.deliver([inbox, trash], { body: b64 }); // uid 3 in INBOX, uid 1 in Trash
    await store.appendMessage(inbox, { body: multi }); // uid 4
    const st = store.searchText!.bind(store);
    assert.deepEqual(await st(inbox, { body: ["BUDGET IS"] }), new Set([1]));
    assert.deepEqual(await st(inbox, { body: ["quarterly"] }), new Set()); // header only
    assert.deepEqual(await st(inbox, { text: ["quarterly"] }), new Set([1]));
    assert.deepEqual(await st(inbox, { body: ["GRÜSSE".toLowerCase().replace("ss", "ß")] }), new Set([2]));
    assert.deepEqual(await st(inbox, { text: ["Grüße"] }), new Set([2]));
    assert.deepEqual(await st(inbox, { body: ["ПРИВЕТ"] }), new Set([3]));
    assert.deepEqual(await st(trash, { body: ["ёлка"] }), new Set([1]));
    assert.deepEqual(await st(inbox, { body: ["zebracorn"] }), new Set([4]));
    assert.deepEqual(await st(inbox, { body: ["secretbinary"] }), new Set());
    assert.deepEqual(await st(inbox, { text: ["subject"] }), new Set([1, 2, 3, 4]));
    assert.deepEqual(await st(inbox, { body: ["plain"], text: ["alternative"] }), new Set([4]));
    assert.deepEqual(await st(inbox, { body: ["plain", "budget"] }), new Set());
    assert.deepEqual(await st(inbox, { body: ['say "hi"'] }), new Set());
    assert.equal(await st(inbox, { body: ["ab"] }), null); // too short for trigrams
    assert.equal(await st(inbox, { body: ["budget"], text: ["é"] }), null);
  });
});

test("searchText: a file body, COPY shares one index row, the last expunge removes it", async () => {
  await withStore(async (store, inbox, trash, dir) => {
    const f = path.join(dir, "incoming.eml");
    await writeFile(f, plain);
    await store.appendMessage(inbox, { body: { path: f, size: plain.length } });
    await store.copyMessages(inbox, [1], trash);
    assert.deepEqual(await store.searchText!(trash, { body: ["approved"] }), new Set([1]));
    const approved = (): number => count(dir, LIVE_MATCHES, '"approved"');
    assert.equal(approved(), 1); // indexed once per body, not per mailbox entry
    await store.expunge(inbox, [1]);
    assert.deepEqual(await store.searchText!(inbox, { body: ["approved"] }), new Set());
    assert.deepEqual(await store.searchText!(trash, { body: ["approved"] }), new Set([1]));
    assert.equal(approved(), 1);
    await store.expunge(trash, [1]);
    assert.equal(approved(), 0);
    assert.deepEqual((await store.checkIntegrity()).problems, []);
    // A body whose index row is lost is reported by the integrity check.
    await store.appendMessage(inbox, { body: b64 });
    assert.deepEqual((await store.checkIntegrity()).problems, []);
    await store.searchText!(inbox, { body: ["anything"] }); // a search indexes what is pending
    const db = new Database(path.join(dir, "store", "text.db"));
    db.exec("DELETE FROM indexed");
    db.close();
    const report = await store.checkIntegrity();
    assert.equal(report.ok, false);
    assert.match(report.problems.join("\n"), /its text is missing from the search index/);
  });
});

test("opening a store made before the index indexes its messages (migrations 1 -> 4)", async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "portcullis-fts-"));
  try {
    let store = await openStore(dir, { inlineMax: 0 }); // version 1 kept every body in a file
    await store.addDomain("example.test");
    const a = await store.createAccount("user@example.test");
    const inbox = (await store.getMailbox(a.id, "INBOX"))!.id;
    await store.appendMessage(inbox, { body: plain });
    await store.appendMessage(inbox, { body: b64 });
    await store.close();
    // Make it look like a version-1 store: no index, no pending list, no inline bodies.
    const db = new Database(path.join(dir, "store", "portcullis.db"));
    db.exec("DROP TRIGGER blobs_ad; DROP TABLE text_pending; DROP TRIGGER blobs_ad_data; DROP TABLE blob_data; UPDATE schema_version SET version = 1;");
    db.close();
    for (const f of ["text.db", "text.db-wal", "text.db-shm"]) await rm(path.join(dir, "store", f), { force: true });
    store = await openStore(dir);
    try {
      assert.deepEqual(await store.searchText!(inbox, { body: ["budget"] }), new Set([1]));
      assert.deepEqual(await store.searchText!(inbox, { body: ["мир"] }), new Set([2]));
    } finally {
      await store.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("indexer thread: new bodies are indexed in the background, in batches, without a search", async () => {
  await withStore(async (store, inbox, _trash, dir) => {
    const read = (sql: string): number => count(dir, sql);
    await Promise.all(Array.from({ length: 120 }, (_, i) => store.appendMessage(inbox, { body: crlf(`Subject: n${i}\n\nneedle-${i} body\n`) })));
    assert.ok(read("SELECT count(*) AS n FROM text_pending") > 0, "just delivered: still pending");
    const deadline = Date.now() + 10_000;
    while (read("SELECT count(*) AS n FROM text_pending") > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(read("SELECT count(*) AS n FROM text_pending"), 0, "indexed within seconds without anyone searching");
    assert.equal(read("SELECT count(*) FROM txt.indexed"), 120, "indexed by the indexer thread into text.db");
    const hits = [...(await store.searchText!(inbox, { body: ["needle-77 "] }))!];
    assert.equal(hits.length, 1);
    const [meta] = await store.getMessages(inbox, hits);
    assert.match((await store.readBody(meta!.id)).toString(), /needle-77 body/);
    assert.deepEqual((await store.checkIntegrity()).problems, []);
  });
});

test("deferred indexing: a search right after delivery sees the new message; pending bodies survive a close", async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "portcullis-fts-"));
  try {
    let store = await openStore(dir);
    await store.addDomain("example.test");
    const a = await store.createAccount("user@example.test");
    const inbox = (await store.getMailbox(a.id, "INBOX"))!.id;
    await store.appendMessage(inbox, { body: plain });
    assert.deepEqual(await store.searchText!(inbox, { body: ["approved"] }), new Set([1]), "searched at once: found");
    await store.appendMessage(inbox, { body: qp });
    await store.close(); // closed before the indexer ran: the body stays pending on disk
    assert.equal(count(dir, "SELECT count(*) FROM text_pending"), 1, "still listed on disk");
    store = await openStore(dir); // the owner's indexer indexes what is listed
    assert.deepEqual(await store.searchText!(inbox, { body: ["münchen"] }), new Set([2]));
    assert.deepEqual((await store.checkIntegrity()).problems, []);
    await store.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("deferred indexing: a body expunged before it was indexed leaves nothing behind", async () => {
  await withStore(async (store, inbox, _trash, dir) => {
    await store.appendMessage(inbox, { body: plain });
    await store.storeFlags(inbox, [1], "add", ["\\Deleted"]);
    await store.expunge(inbox);
    await store.appendMessage(inbox, { body: multi }); // may reuse the blob id
    assert.deepEqual(await store.searchText!(inbox, { text: ["approved"] }), new Set(), "the old text is not attached to the new body");
    assert.equal(count(dir, LIVE_MATCHES, '"approved"'), 0);
    assert.equal(count(dir, "SELECT count(*) FROM txt.indexed i JOIN blobs b ON b.id = i.blob_id AND b.name = i.name"), 1, "only the new body is indexed");
    assert.deepEqual((await store.checkIntegrity()).problems, []);
  });
});
