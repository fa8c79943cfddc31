// The full-text indexer's worker thread: it owns the search index database (text.db) and fills it
// from the store's list of bodies waiting to be indexed (text_pending in portcullis.db, read
// through its own read-only use of that database), so that tokenising message text never runs on
// the event loop that serves connections.
//
// Messages (textindex.ts TextIndexer is the other side):
//   in:  { type: "work" }            new bodies are pending: index them (in batches)
//        { type: "drain", id }       index everything pending now, then answer { type: "drained", id }
//        { type: "close" }           finish the current batch, close the databases, exit
//   out: { type: "indexed", done: [[blobId, name], ...] }   after each committed batch
//        { type: "ready" } | { type: "error", error }
//
// Invariants:
// - text.db is written with synchronous = FULL: a batch reported "indexed" is on disk, so the
//   store may then drop its pending rows (after a crash nothing is left unindexed and unlisted).
// - A row of `indexed` names the blob (id and name) whose text is in message_text under that
//   rowid; a blob id reused after a delete is indexed again (the old row is replaced). Rows of
//   deleted blobs are removed from time to time (they never match: searches join on the name).
// - This thread never writes portcullis.db.

import { parentPort, workerData } from "node:worker_threads";
import { openSync, readSync, closeSync, fstatSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { extractSearchText } from "./text.js";
import { TEXT_SCHEMA, MAX_READ } from "./textschema.js";

interface Data {
  textFile: string;
  mainFile: string;
  blobRoot: string;
}

const BATCH = 50;
const GC_EVERY_MS = 60_000;

const { textFile, mainFile, blobRoot } = workerData as Data;
const port = parentPort!;

const db = new Database(textFile);
db.pragma("journal_mode = WAL");
db.pragma("synchronous = FULL");
db.pragma("busy_timeout = 5000");
db.exec(TEXT_SCHEMA);
db.prepare("ATTACH DATABASE ? AS m").run(mainFile);

const nextBatch = db.prepare(
  `SELECT p.blob_id AS id, b.name AS name, d.data AS data
     FROM m.text_pending p JOIN m.blobs b ON b.id = p.blob_id
     LEFT JOIN m.blob_data d ON d.blob_id = b.id
     LEFT JOIN indexed i ON i.blob_id = p.blob_id AND i.name = b.name
    WHERE i.blob_id IS NULL ORDER BY p.blob_id LIMIT ${BATCH}`,
);
const oldRow = db.prepare("SELECT name FROM indexed WHERE blob_id = ?").pluck(true);
const deleteText = db.prepare("DELETE FROM message_text WHERE rowid = ?");
const insertText = db.prepare("INSERT INTO message_text (rowid, header, body) VALUES (?, ?, ?)");
const setIndexed = db.prepare("INSERT OR REPLACE INTO indexed (blob_id, name) VALUES (?, ?)");
const stale = db.prepare(
  "SELECT i.blob_id AS id FROM indexed i LEFT JOIN m.blobs b ON b.id = i.blob_id WHERE b.id IS NULL OR b.name != i.name LIMIT 1000",
);
const dropIndexed = db.prepare("DELETE FROM indexed WHERE blob_id = ?");

/** The first MAX_READ octets of a body file, or null when it is missing (checkIntegrity says so). */
function readFileHead(name: string): Buffer | null {
  let fd: number;
  try {
    fd = openSync(path.join(blobRoot, name.slice(0, 2), name), "r");
  } catch {
    return null;
  }
  try {
    const buf = Buffer.allocUnsafe(Math.min(fstatSync(fd).size, MAX_READ));
    let off = 0;
    while (off < buf.length) {
      const n = readSync(fd, buf, off, buf.length - off, off);
      if (n === 0) break;
      off += n;
    }
    return buf.subarray(0, off);
  } finally {
    closeSync(fd);
  }
}

/** Indexes one batch; returns how many bodies it took. */
function batch(): number {
  const rows = nextBatch.all() as Array<{ id: number; name: string; data: Buffer | null }>;
  if (rows.length === 0) return 0;
  const texts = rows.map((r) => {
    const body = r.data ?? readFileHead(r.name);
    return { id: r.id, name: r.name, text: body ? extractSearchText(body.length > MAX_READ ? body.subarray(0, MAX_READ) : body) : null };
  });
  db.transaction(() => {
    for (const t of texts) {
      if (oldRow.get(t.id) !== undefined) deleteText.run(t.id); // an id reused after a delete
      if (t.text) insertText.run(t.id, t.text.header, t.text.body);
      setIndexed.run(t.id, t.name);
    }
  })();
  port.postMessage({ type: "indexed", done: texts.map((t) => [t.id, t.name]) });
  return rows.length;
}

let lastGc = Date.now();
function collect(): void {
  const ids = stale.pluck(true).all() as number[];
  if (ids.length === 0) return;
  db.transaction(() => {
    for (const id of ids) {
      deleteText.run(id);
      dropIndexed.run(id);
    }
  })();
}

let closing = false;
let busy = false;
const drains: number[] = [];
let more = false;

function run(): void {
  if (busy || closing) return;
  busy = true;
  try {
    more = false;
    // One batch per turn, so that a close or a drain request is seen between batches.
    const n = batch();
    if (n > 0) more = true;
    else {
      if (Date.now() - lastGc > GC_EVERY_MS) {
        lastGc = Date.now();
        collect();
      }
      for (const id of drains.splice(0)) port.postMessage({ type: "drained", id });
    }
  } catch (e) {
    port.postMessage({ type: "error", error: String(e) });
    for (const id of drains.splice(0)) port.postMessage({ type: "drained", id, error: String(e) });
    more = false;
  } finally {
    busy = false;
  }
  if (more) setImmediate(run);
}

port.on("message", (m: { type: string; id?: number }) => {
  if (m.type === "close") {
    closing = true;
    db.close();
    port.close();
    return;
  }
  if (m.type === "drain") drains.push(m.id!);
  setImmediate(run);
});
port.postMessage({ type: "ready" });
