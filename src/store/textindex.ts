// The full-text index of message text (table message_text, db.ts migration 2): filling it for a
// new body, backfilling bodies stored before it existed, and answering IMAP SEARCH BODY/TEXT
// (RFC 9051 §6.4.4: case-insensitive substring match).
//
// Invariants:
// - One index row per blob (rowid = blobs.id), written in the same transaction as the blob row,
//   deleted by the blobs_ad trigger in the transaction that deletes the blob.
// - The text is extracted (text.ts) before the write transaction; extraction reads at most
//   MAX_READ octets of the body.
// - searchText answers only what the index can answer exactly: null (the caller scans bodies)
//   for a needle of fewer than 3 characters (the trigram tokenizer's minimum) or while bodies
//   stored before the index remain un-indexed.

import { promises as fsp } from "node:fs";
import type { Ctx } from "./context.js";
import type { Id, TextQuery } from "./types.js";
import { extractSearchText, type SearchableText } from "./text.js";
import { requireMailbox } from "./mailboxes.js";

/** Octets of a body read for extraction (text beyond is not searchable through the index). */
export const MAX_READ = 16 * 1024 * 1024;
const BACKFILL_BATCH = 200;

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

export function textOf(body: Buffer): SearchableText {
  return extractSearchText(body.length > MAX_READ ? body.subarray(0, MAX_READ) : body);
}

/** Inside a write transaction: indexes the text of a new blob. */
export function indexText(ctx: Ctx, blobId: number, text: SearchableText): void {
  ctx.st.get("INSERT INTO message_text (rowid, header, body) VALUES (?, ?, ?)").run(blobId, text.header, text.body);
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
      // A missing file is reported by checkIntegrity; index nothing for it.
      const body = await readHead(ctx.blobs.pathOf(r.name)).catch(() => null);
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
