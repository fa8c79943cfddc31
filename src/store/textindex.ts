// The full-text index of message text, for IMAP SEARCH BODY/TEXT (RFC 9051 §6.4.4: a
// case-insensitive substring match): listing new bodies for indexing, driving the indexer thread,
// and answering searches.
//
// Where the work happens: tokenising a 10 KB message with the trigram tokenizer costs about
// 0.3 ms of CPU even in batches, more than everything else the store does for a delivery. So the
// index lives in its own database (<store>/text.db, textschema.ts), written only by a worker
// thread (textworker.ts) on another core, never by the event loop that serves connections.
//
// The durable to-do list is text_pending in portcullis.db: a new blob is listed in the
// transaction of its blob row (markPending), the indexer indexes listed bodies in batches a
// moment later (text.db fsynced) and reports them, and only then is the listing removed (by the
// committer, name-checked). A crash at any point leaves every body either indexed or listed.
//
// Invariants:
// - A search first asks the indexer to index everything listed, then joins the index with the
//   current blobs by id AND name (a blob id reused after a delete never matches the old text).
// - searchText answers only what the index can answer exactly: null (the caller scans bodies)
//   for a needle of fewer than 3 characters (the trigram tokenizer's minimum), when listed bodies
//   remain unindexed (no indexer in this process, or a large backlog after an upgrade), or when
//   the indexer is not running.

import type { Worker } from "node:worker_threads";
import { promises as fsp } from "node:fs";
import Database from "better-sqlite3";
import type { Ctx } from "./context.js";
import type { Id, TextQuery } from "./types.js";
import { requireMailbox } from "./mailboxes.js";
import { TEXT_SCHEMA } from "./textschema.js";
import { startWorker, stopWorker, whenReady } from "./workers.js";

/** How long new bodies wait to be indexed together. */
const INDEX_DELAY_MS = 200;
/** A search waits for the indexer only when at most this many bodies are waiting; past it (a
 * store just upgraded, a burst of mail), it scans rather than keep the client waiting. */
const WAIT_FOR_BACKLOG_MAX = 2000;

/** Inside a write transaction: lists a new blob for indexing. */
export function markPending(ctx: Ctx, blobId: number): void {
  ctx.st.get("INSERT OR IGNORE INTO text_pending (blob_id) VALUES (?)").run(blobId);
}

/** Creates the index database (0600) with its schema, and opens the store's reading connection to
 * it, with portcullis.db attached as `m` (written only by the indexer thread; never attached to
 * the store's writing connection, whose BEGIN IMMEDIATE would then wait for the indexer's write
 * lock on text.db). */
export async function openTextReader(ctx: Ctx, textFile: string, mainFile: string): Promise<void> {
  await (await fsp.open(textFile, "a", 0o600)).close();
  for (const f of [textFile, `${textFile}-wal`, `${textFile}-shm`]) {
    await fsp.chmod(f, 0o600).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== "ENOENT") throw e;
    });
  }
  const reader = new Database(textFile);
  try {
    reader.pragma("journal_mode = WAL");
    reader.pragma("busy_timeout = 5000");
    reader.exec(TEXT_SCHEMA);
    reader.prepare("ATTACH DATABASE ? AS m").run(mainFile);
  } catch (e) {
    reader.close();
    throw e;
  }
  ctx.text = reader;
}

interface WorkerMessage {
  type: "ready" | "indexed" | "drained" | "error";
  id?: number;
  done?: Array<[number, string]>;
  error?: string;
}

/** The store's side of the indexer thread. */
export class TextIndexer {
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private nextDrain = 1;
  private readonly drains = new Map<number, () => void>();
  /** The latest removal of listings, so that a drain ends after its listings are gone. */
  private clearing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly ctx: Ctx,
    private worker: Worker | null,
  ) {}

  /** Starts the indexer thread; null (searches then scan) if it cannot start. */
  static async start(ctx: Ctx, o: { textFile: string; mainFile: string; blobRoot: string }): Promise<TextIndexer | null> {
    const worker = startWorker(new URL("./textworker.js", import.meta.url), o);
    const failed = await whenReady<WorkerMessage>(worker, (m) => m.type === "ready");
    if (failed !== null) {
      ctx.log?.error({ err: failed }, "store: the text indexer did not start; SEARCH BODY/TEXT reads bodies");
      return null;
    }
    const t = new TextIndexer(ctx, worker);
    worker.unref();
    worker.on("message", (m: WorkerMessage) => t.onMessage(m));
    worker.on("error", (e) => t.lost(e));
    worker.on("exit", () => t.lost(null));
    t.kick(); // bodies listed before this start (a crash, an upgrade)
    return t;
  }

  /** New bodies are listed: have them indexed soon, together. */
  kick(): void {
    if (this.timer || this.closed || !this.worker) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.worker?.postMessage({ type: "work" });
    }, INDEX_DELAY_MS);
  }

  /** Resolves once everything listed when called is indexed (or the indexer is gone). */
  drain(): Promise<void> {
    if (!this.worker || this.closed) return Promise.resolve();
    const id = this.nextDrain++;
    return new Promise<void>((resolve) => {
      this.drains.set(id, resolve);
      this.worker!.postMessage({ type: "drain", id });
    });
  }

  private onMessage(m: WorkerMessage): void {
    if (m.type === "indexed" && m.done && m.done.length > 0) {
      const done = m.done;
      // Remove the listings (name-checked: the id may already name a newer blob).
      this.clearing = this.ctx.committer
        .submit(() => {
          const del = this.ctx.st.get("DELETE FROM text_pending WHERE blob_id = ? AND EXISTS (SELECT 1 FROM blobs WHERE id = ? AND name = ?)");
          for (const [id, name] of done) del.run(id, id, name);
        })
        .catch((err: unknown) => this.ctx.log?.error({ err: String(err) }, "store: could not clear indexed bodies from the list"));
    } else if (m.type === "drained") {
      const resolve = this.drains.get(m.id!);
      this.drains.delete(m.id!);
      if (resolve) void this.clearing.then(resolve);
    } else if (m.type === "error") {
      this.ctx.log?.error({ err: m.error }, "store: text indexing failed");
    }
  }

  private lost(err: unknown): void {
    if (!this.worker) return;
    this.worker = null;
    if (!this.closed) this.ctx.log?.error({ err: String(err) }, "store: the text indexer stopped; SEARCH BODY/TEXT reads bodies");
    for (const resolve of this.drains.values()) resolve();
    this.drains.clear();
  }

  /** Stops the thread after its current batch; what is still listed is indexed at the next open. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const w = this.worker;
    if (!w) return;
    await stopWorker(w, { type: "close" }, 10_000);
    this.worker = null;
    for (const resolve of this.drains.values()) resolve();
    this.drains.clear();
  }
}

/** Bodies listed for indexing and not yet indexed. */
function unindexed(ctx: Ctx, limit: number): number {
  return ctx
    .text!.prepare(
      `SELECT count(*) FROM (SELECT 1 FROM m.text_pending p JOIN m.blobs b ON b.id = p.blob_id
         WHERE NOT EXISTS (SELECT 1 FROM indexed i WHERE i.blob_id = p.blob_id AND i.name = b.name) LIMIT ?)`,
    )
    .pluck(true)
    .get(limit) as number;
}

/** Message bodies neither indexed nor listed for indexing (names), for checkIntegrity. */
export function unlistedUnindexed(ctx: Ctx): string[] {
  return ctx
    .text!.prepare(
      `SELECT b.name FROM m.blobs b WHERE b.id IN (SELECT blob_id FROM m.messages)
         AND b.id NOT IN (SELECT blob_id FROM m.text_pending)
         AND NOT EXISTS (SELECT 1 FROM indexed i WHERE i.blob_id = b.id AND i.name = b.name)`,
    )
    .pluck(true)
    .all() as string[];
}

/** Whether a search should wait for the indexer (a small backlog) or scan (a large one). */
export function backlogIsSmall(ctx: Ctx): boolean {
  return unindexed(ctx, WAIT_FOR_BACKLOG_MAX + 1) <= WAIT_FOR_BACKLOG_MAX;
}

/** RFC 9051 §6.4.4 BODY/TEXT through the index: UIDs of the mailbox's messages matching every
 * needle (AND); null when the index cannot answer (short needle, bodies not yet indexed). */
export function searchText(ctx: Ctx, mailboxId: Id, query: TextQuery): Set<number> | null {
  requireMailbox(ctx, mailboxId);
  const terms: string[] = [];
  for (const [scope, needles] of [["body", query.body ?? []], ["text", query.text ?? []]] as const) {
    for (const n of needles) {
      const needle = n.toLowerCase();
      if ([...needle].length < 3) return null; // the trigram tokenizer needs 3 characters
      const phrase = `"${needle.replace(/"/g, '""')}"`;
      // BODY: the body column only; TEXT: header or body (RFC 9051 §6.4.4).
      terms.push(scope === "body" ? `body : ${phrase}` : `{header body} : ${phrase}`);
    }
  }
  // The caller (SqliteStore.searchText) had the indexer index what was listed; a body still
  // unindexed was written meanwhile (or by another process): scan rather than miss it.
  if (unindexed(ctx, 1) > 0) return null;
  if (terms.length === 0) {
    return new Set(ctx.st.get("SELECT uid FROM messages WHERE mailbox_id = ?").pluck(true).all(mailboxId) as number[]);
  }
  const uids = ctx
    .text!.prepare(
      `SELECT x.uid FROM m.messages x JOIN m.blobs b ON b.id = x.blob_id JOIN indexed i ON i.blob_id = b.id AND i.name = b.name
        WHERE x.mailbox_id = ? AND b.id IN (SELECT rowid FROM message_text WHERE message_text MATCH ?)`,
    )
    .pluck(true)
    .all(mailboxId, terms.join(" AND ")) as number[];
  return new Set(uids);
}
