// checkIntegrity(): does the database agree with the body files and with itself?
//
// Checks, each failure one human-readable line in `problems`:
// - SQLite's own quick_check;
// - every blob row has its body (inline data, or a file) of the recorded size, and every message
//   has the size of its blob;
// - every file in the blob directories is named by a row (and tmp/ is empty);
// - blobs.refs equals the number of rows referring to the blob;
// - each mailbox's counters (messages, unseen, deleted, size) equal the aggregates of its rows,
//   and no message has a UID >= uid_next or a MODSEQ > highest_modseq;
// - every message body is in the search index (text.db, under its blob's id and name) or still
//   listed for indexing (text_pending, textindex.ts).
// It only reads: orphaned files are removed at open (sqlite-store.ts), never here.

import { promises as fsp } from "node:fs";
import { audit } from "../log/audit.js";
import { unlistedUnindexed } from "./textindex.js";
import type { IntegrityReport } from "./types.js";
import type { Ctx } from "./context.js";

interface BlobRow {
  id: number;
  name: string;
  size: number;
  refs: number;
  /** Length of the inline data (blob_data), or null for a body kept in a file. */
  inline_size: number | null;
}

export async function checkIntegrity(ctx: Ctx): Promise<IntegrityReport> {
  const problems: string[] = [];
  const add = (p: string): void => {
    if (problems.length < 1000) problems.push(p);
    else if (problems.length === 1000) problems.push("... more problems not listed");
  };

  const quick = ctx.db.pragma("quick_check", { simple: false }) as Array<{ quick_check: string }>;
  for (const q of quick) if (q.quick_check !== "ok") add(`database: ${q.quick_check}`);

  // Snapshot the metadata in one read transaction so the checks below agree with each other.
  const snap = ctx.db.transaction(() => ({
    blobs: ctx.st
      .get("SELECT b.id, b.name, b.size, b.refs, length(d.data) AS inline_size FROM blobs b LEFT JOIN blob_data d ON d.blob_id = b.id")
      .all() as BlobRow[],
    refs: ctx.st
      .get("SELECT blob_id, sum(n) AS n FROM (SELECT blob_id, count(*) AS n FROM messages GROUP BY blob_id UNION ALL SELECT blob_id, count(*) FROM queue GROUP BY blob_id) GROUP BY blob_id")
      .all() as Array<{ blob_id: number; n: number }>,
    badSizes: ctx.st
      .get(
        "SELECT m.id, m.mailbox_id, m.uid, m.size, b.size AS blob_size FROM messages m LEFT JOIN blobs b ON b.id = m.blob_id WHERE b.id IS NULL OR b.size != m.size",
      )
      .all() as Array<{ id: number; mailbox_id: number; uid: number; size: number; blob_size: number | null }>,
    queueMissing: ctx.st.get("SELECT q.id FROM queue q LEFT JOIN blobs b ON b.id = q.blob_id WHERE b.id IS NULL").all() as Array<{ id: string }>,
    counters: ctx.st
      .get(
        `SELECT mb.id, mb.name, mb.messages, mb.unseen, mb.deleted, mb.size, mb.uid_next, mb.highest_modseq,
                coalesce(a.n, 0) AS n, coalesce(a.unseen, 0) AS a_unseen, coalesce(a.deleted, 0) AS a_deleted,
                coalesce(a.size, 0) AS a_size, coalesce(a.max_uid, 0) AS max_uid, coalesce(a.max_modseq, 0) AS max_modseq
         FROM mailboxes mb LEFT JOIN (
           SELECT mailbox_id, count(*) AS n, sum(1 - seen) AS unseen, sum(deleted) AS deleted, sum(size) AS size,
                  max(uid) AS max_uid, max(modseq) AS max_modseq
           FROM messages GROUP BY mailbox_id) a ON a.mailbox_id = mb.id`,
      )
      .all() as Array<Record<string, number | string>>,
    messages: (ctx.st.get("SELECT count(*) AS n FROM messages").get() as { n: number }).n,
  }))();
  // Through the search index's own connection (textindex.ts), after the snapshot above.
  const unindexed = ctx.text ? unlistedUnindexed(ctx) : [];

  const actualRefs = new Map(snap.refs.map((r) => [r.blob_id, r.n]));
  for (const b of snap.blobs) {
    const n = actualRefs.get(b.id) ?? 0;
    if (n !== b.refs) add(`blob ${b.name}: reference count ${b.refs}, but ${n} rows refer to it`);
  }
  for (const m of snap.badSizes) {
    add(
      m.blob_size === null
        ? `message ${m.id} (mailbox ${m.mailbox_id} uid ${m.uid}): its body is missing from the blob table`
        : `message ${m.id} (mailbox ${m.mailbox_id} uid ${m.uid}): size ${m.size} but its body has ${m.blob_size} bytes`,
    );
  }
  for (const q of snap.queueMissing) add(`queued message ${q.id}: its body is missing from the blob table`);

  for (const c of snap.counters) {
    const where = `mailbox ${c.id} (${c.name})`;
    if (c.messages !== c.n) add(`${where}: counter says ${c.messages} messages, there are ${c.n}`);
    if (c.unseen !== c.a_unseen) add(`${where}: counter says ${c.unseen} unseen, there are ${c.a_unseen}`);
    if (c.deleted !== c.a_deleted) add(`${where}: counter says ${c.deleted} \\Deleted, there are ${c.a_deleted}`);
    if (c.size !== c.a_size) add(`${where}: counter says ${c.size} bytes, messages total ${c.a_size}`);
    if ((c.max_uid as number) >= (c.uid_next as number)) add(`${where}: UID ${c.max_uid} is not below UIDNEXT ${c.uid_next}`);
    if ((c.max_modseq as number) > (c.highest_modseq as number)) {
      add(`${where}: MODSEQ ${c.max_modseq} is above HIGHESTMODSEQ ${c.highest_modseq}`);
    }
  }

  // Files: each row's file with the right size, and no file without a row.
  const files = await ctx.blobs.scan();
  const known = new Set<string>();
  const missing = new Set<string>();
  const CHUNK = 64;
  for (let i = 0; i < snap.blobs.length; i += CHUNK) {
    await Promise.all(
      snap.blobs.slice(i, i + CHUNK).map(async (b) => {
        if (b.inline_size !== null) {
          // Stored in the database: no file to check, its length must be the recorded size.
          if (b.inline_size !== b.size) add(`blob ${b.name}: stored body has ${b.inline_size} bytes, expected ${b.size}`);
          return;
        }
        known.add(b.name);
        const st = await fsp.stat(ctx.blobs.pathOf(b.name)).catch(() => null);
        if (!st) {
          missing.add(b.name);
          add(`blob ${b.name}: file is missing`);
        } else if (st.size !== b.size) add(`blob ${b.name}: file has ${st.size} bytes, expected ${b.size}`);
        else if ((st.mode & 0o077) !== 0) add(`blob ${b.name}: file mode ${(st.mode & 0o777).toString(8)} is open to others`);
      }),
    );
  }
  // A body whose file is missing has no text to index: the missing file is the problem to report.
  for (const name of unindexed) {
    if (!missing.has(name)) add(`blob ${name}: its text is missing from the search index (SEARCH BODY/TEXT cannot find it)`);
  }
  for (const rel of files) {
    const name = rel.slice(3);
    if (!(known.has(name) && rel === ctx.blobs.relativePath(name))) add(`file blobs/${rel}: no message refers to it (or a write is in progress)`);
  }
  for (const f of await fsp.readdir(ctx.blobs.tmp).catch(() => [] as string[])) add(`file blobs/tmp/${f}: left over (or a write is in progress)`);

  const report: IntegrityReport = { ok: problems.length === 0, problems, messages: snap.messages, blobs: snap.blobs.length };
  if (ctx.log) {
    audit(ctx.log, "store.check", { ok: report.ok, problems: problems.length, messages: report.messages, blobs: report.blobs }, report.ok ? "info" : "warn");
  }
  return report;
}
