// The full-text index of message text (table message_text, db.ts migration 2): filling it for
// new bodies, in batches, off the delivery path; backfilling bodies stored before it existed; and
// answering IMAP SEARCH BODY/TEXT (RFC 9051 §6.4.4: case-insensitive substring match).
//
// Why deferred: indexing one 10 KB message with the trigram tokenizer costs about 1 ms of CPU and
// dozens of WAL pages when done alone, a third of that in batches of 50. A new blob is listed in
// text_pending in its own transaction (so nothing is lost in a crash: pending rows survive and are
// indexed at the next open), and the TextIndexer indexes pending bodies a moment later, many per
// transaction. A search first indexes whatever is still pending, so it always sees every message.
//
// Invariants:
// - One index row per blob (rowid = blobs.id), or a text_pending row until it is indexed; both
//   are deleted by the blobs_ad trigger in the transaction that deletes the blob.
// - An index row is written only if the blob still has the name whose file was read (blob ids
//   can be reused after a delete).
// - Extraction (text.ts) reads at most MAX_READ octets of the body, outside the transaction.
// - searchText answers only what the index can answer exactly: null (the caller scans bodies)
//   for a needle of fewer than 3 characters (the trigram tokenizer's minimum) or when bodies
//   remain un-indexed (another process is writing them).

import { promises as fsp } from "node:fs";
import type { Ctx } from "./context.js";
import type { Id, TextQuery } from "./types.js";
import { extractSearchText, type SearchableText } from "./text.js";
import { requireMailbox } from "./mailboxes.js";
import { locateBlob } from "./blobs.js";

/** Octets of a body read for extraction (text beyond is not searchable through the index). */
export const MAX_READ = 16 * 1024 * 1024;
const BACKFILL_BATCH = 200;
/** Bodies indexed per transaction by the TextIndexer: large enough to share the index's segment
 * writes, small enough not to hold the event loop long (about 20 ms). */
const INDEX_BATCH = 50;
/** How long new bodies wait to be indexed together. */
const INDEX_DELAY_MS = 200;
/** Octets of delivered bodies kept in memory for the indexer. */
const HELD_MAX = 32 * 1024 * 1024;

/** Reads up to MAX_READ octets of a file. */
export async function readHead(file: string): Promise<Buffer> {
  const fh = await fsp.open(file, "r");
  try {
    const { size } = await fh.stat();
    const buf = Buffer.allocUnsafe(Math.min(size, MAX_READ));
    let off = 0;
    while (off < buf.length) {
      const { bytesRead } = await fh.read(buf, off, buf.length - off, off);
      if (bytesRead === 0) break;
      off += bytesRead;
    }
    return buf.subarray(0, off);
  } finally {
    await fh.close();
  }
}

/** The first MAX_READ octets of a stored body (inline or file); null when its file is missing
 * (reported by checkIntegrity; nothing is indexed for it). */
async function readBlobHead(ctx: Ctx, blobId: number, name: string): Promise<Buffer | null> {
  const loc = locateBlob(ctx.st, ctx.blobs, blobId, name, 0);
  if ("inline" in loc) return loc.inline;
  return readHead(loc.path).catch(() => null);
}

export function textOf(body: Buffer): SearchableText {
  return extractSearchText(body.length > MAX_READ ? body.subarray(0, MAX_READ) : body);
}

/** Inside a write transaction: indexes the text of a blob. */
export function indexText(ctx: Ctx, blobId: number, text: SearchableText): void {
  ctx.st.get("INSERT INTO message_text (rowid, header, body) VALUES (?, ?, ?)").run(blobId, text.header, text.body);
}

/** Inside a write transaction: lists a new blob for indexing. */
export function markPending(ctx: Ctx, blobId: number): void {
  ctx.st.get("INSERT OR IGNORE INTO text_pending (blob_id) VALUES (?)").run(blobId);
}

/** Indexes pending bodies in the background, INDEX_BATCH per transaction (through the committer,
 * so that an index batch shares its commit with deliveries in flight). */
export class TextIndexer {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private closed = false;
  /** Bodies delivered from memory, kept until indexed so that their files need not be read back
   * (at most HELD_MAX octets in all; past it the indexer reads the file). */
  private readonly held = new Map<number, Buffer>();
  private heldBytes = 0;

  constructor(private readonly ctx: Ctx) {}

  /** A new body is pending (`body`: its content, when the caller has it in memory): index it soon,
   * together with the others. */
  kick(blobId?: number, body?: Buffer): void {
    if (blobId !== undefined && body && this.heldBytes + body.length <= HELD_MAX && !this.closed) {
      this.heldBytes -= this.held.get(blobId)?.length ?? 0; // an id reused after a delete
      this.held.set(blobId, body);
      this.heldBytes += body.length;
    }
    if (this.timer || this.running || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.drain().catch((err: unknown) => this.ctx.log?.error({ err: String(err) }, "store: text indexing failed"));
    }, INDEX_DELAY_MS);
  }

  /** Indexes everything pending; resolves when nothing pending is left (or the store closes). */
  drain(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (!this.running) {
      this.running = (async () => {
        try {
          while (!this.closed && (await this.batch()) > 0);
        } finally {
          this.running = null;
        }
      })();
    }
    return this.running;
  }

  /** Stops indexing; what is still pending is indexed at the next open. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running?.catch(() => undefined);
    this.held.clear();
    this.heldBytes = 0;
  }

  private async batch(): Promise<number> {
    const { ctx } = this;
    const rows = ctx.st
      .get("SELECT p.blob_id AS id, b.name AS name FROM text_pending p JOIN blobs b ON b.id = p.blob_id ORDER BY p.blob_id LIMIT ?")
      .all(INDEX_BATCH) as Array<{ id: number; name: string }>;
    if (rows.length === 0) {
      // Nothing pending: bodies still held were deleted before being indexed.
      this.held.clear();
      this.heldBytes = 0;
      return 0;
    }
    const texts: Array<{ id: number; name: string; text: SearchableText | null }> = [];
    for (const r of rows) {
      let body = this.held.get(r.id) ?? null;
      if (body) {
        this.held.delete(r.id);
        this.heldBytes -= body.length;
      } else {
        body = await readBlobHead(ctx, r.id, r.name);
      }
      texts.push({ id: r.id, name: r.name, text: body ? textOf(body) : null });
    }
    await ctx.committer.submit(() => {
      for (const t of texts) {
        const still = ctx.st.get("SELECT name FROM blobs WHERE id = ?").pluck(true).get(t.id) === t.name;
        if (!still) continue; // deleted meanwhile (its pending row went with it), or a new blob
        ctx.st.get("DELETE FROM text_pending WHERE blob_id = ?").run(t.id);
        if (t.text) indexText(ctx, t.id, t.text);
      }
    });
    return rows.length;
  }
}

/** Indexes bodies stored before the index existed, BACKFILL_BATCH per transaction. Returns how
 * many were indexed. Run at open by the owning process, before the store serves anyone. */
export async function backfillText(ctx: Ctx): Promise<number> {
  let done = 0;
  for (;;) {
    const rows = ctx.st
      .get("SELECT p.blob_id AS id, b.name AS name FROM text_pending p JOIN blobs b ON b.id = p.blob_id ORDER BY p.blob_id LIMIT ?")
      .all(BACKFILL_BATCH) as Array<{ id: number; name: string }>;
    if (rows.length === 0) {
      // Pending rows whose blob is gone (should not happen: the trigger removes them).
      ctx.st.get("DELETE FROM text_pending WHERE blob_id NOT IN (SELECT id FROM blobs)").run();
      return done;
    }
    const texts: Array<{ id: number; text: SearchableText | null }> = [];
    for (const r of rows) {
      const body = await readBlobHead(ctx, r.id, r.name);
      texts.push({ id: r.id, text: body ? textOf(body) : null });
    }
    ctx.db
      .transaction(() => {
        for (const t of texts) {
          const still = ctx.st.get("DELETE FROM text_pending WHERE blob_id = ?").run(t.id).changes > 0;
          if (still && t.text) indexText(ctx, t.id, t.text);
        }
      })
      .immediate();
    done += rows.length;
  }
}

/** RFC 9051 §6.4.4 BODY/TEXT through the index: UIDs of the mailbox's messages matching every
 * needle (AND); null when the index cannot answer (short needle, backfill not finished). */
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
  // The caller (SqliteStore.searchText) has indexed what was pending; a body still pending was
  // written meanwhile by another process: scan rather than miss it.
  if (ctx.st.get("SELECT 1 FROM text_pending LIMIT 1").get() !== undefined) return null;
  if (terms.length === 0) {
    return new Set((ctx.st.get("SELECT uid FROM messages WHERE mailbox_id = ?").pluck(true).all(mailboxId) as number[]));
  }
  const uids = ctx.st
    .get("SELECT uid FROM messages WHERE mailbox_id = ? AND blob_id IN (SELECT rowid FROM message_text WHERE message_text MATCH ?)")
    .pluck(true)
    .all(mailboxId, terms.join(" AND ")) as number[];
  return new Set(uids);
}
