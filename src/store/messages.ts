// Messages of the SQLite store: append/deliver, list, bodies, flags, expunge, copy/move, QRESYNC.
//
// Invariants:
// - Durability: the body file is durable (blobs.ts) before the row naming it is submitted, and
//   the promise resolves only after the commit (context.ts).
// - RFC 9051 §2.3.1.1: a message's UID is the mailbox's uid_next at insertion, which then grows;
//   UIDs are never reused.
// - RFC 7162 §3.1: each append takes its own new MODSEQ; a STORE, EXPUNGE or COPY takes one new
//   MODSEQ for all messages it changes; a no-op changes nothing and takes none.
// - RFC 7162 §3.2.5.2: expunged UIDs are remembered with the MODSEQ of their expunge.
// - Quota (RFC 9208 §5.1): a write that would take an account over quotaBytes is refused whole.
// - A new body's text_pending row (textindex.ts) commits in the transaction of its blob row.

import { promises as fsp } from "node:fs";
import type { Readable } from "node:stream";
import { StoreError } from "./types.js";
import type {
  AppendResult,
  CopyResult,
  FlagChange,
  FlagOp,
  Id,
  MailboxSnapshot,
  MessageMeta,
  MessageSummary,
  NewMessage,
  StoreFlagsResult,
} from "./types.js";
import type { Ctx, Tx } from "./context.js";
import { applyFlagOp, decodeFlags, encodeFlags, normaliseFlags, sameFlags } from "./normalize.js";
import { requireMailbox, toMailbox, type MailboxRow } from "./mailboxes.js";
import { markPending } from "./textindex.js";
import { insertBlobRow, locateBlob, streamBody, type BodyLocation } from "./blobs.js";

const MAX_UID = 0xffffffff;

// Columns in this order, read with .raw() so listMessages builds no intermediate objects.
const META_COLS = "id, mailbox_id, uid, modseq, flags, internal_date, size, parsed";
type MetaTuple = [number, number, number, number, string, number, number, string | null];

function toMeta(r: MetaTuple): MessageMeta {
  const meta: MessageMeta = {
    id: r[0],
    mailboxId: r[1],
    uid: r[2],
    modseq: r[3],
    flags: decodeFlags(r[4]),
    internalDate: new Date(r[5]),
    size: r[6],
    parsed: null,
  };
  const raw = r[7];
  if (raw !== null) {
    // Decoded on first access only: listing a large mailbox (SELECT, UID FETCH 1:* (FLAGS)) must
    // not pay for structures nobody reads. Still a plain enumerable property to callers.
    let cache: unknown;
    Object.defineProperty(meta, "parsed", {
      enumerable: true,
      configurable: true,
      get: () => (cache === undefined ? (cache = JSON.parse(raw) as unknown) : cache),
    });
  }
  return meta;
}

function encodeParsed(parsed: unknown): string | null {
  if (parsed === undefined || parsed === null) return null;
  const s = JSON.stringify(parsed);
  if (s === undefined) throw new StoreError("invalid", "parsed must be a JSON value");
  return s;
}

/** Reserves `count` UIDs and one new MODSEQ in the mailbox; returns the first UID and the MODSEQ. */
function reserve(ctx: Ctx, mb: MailboxRow, count: number): { uid: number; modseq: number } {
  if (mb.uid_next + count - 1 > MAX_UID) throw new StoreError("invalid", `mailbox ${mb.name} has run out of UIDs`);
  const r = ctx.st
    .get(
      "UPDATE mailboxes SET uid_next = uid_next + ?, highest_modseq = highest_modseq + 1 WHERE id = ? RETURNING uid_next, highest_modseq",
    )
    .get(count, mb.id) as { uid_next: number; highest_modseq: number };
  mb.uid_next = r.uid_next;
  mb.highest_modseq = r.highest_modseq;
  return { uid: r.uid_next - count, modseq: r.highest_modseq };
}

function newModseq(ctx: Ctx, mailboxId: Id): number {
  const r = ctx.st.get("UPDATE mailboxes SET highest_modseq = highest_modseq + 1 WHERE id = ? RETURNING highest_modseq").get(mailboxId) as {
    highest_modseq: number;
  };
  return r.highest_modseq;
}

/** Throws over-quota if adding `extra` bytes per account (accountId -> bytes) exceeds a quota. */
function checkQuota(ctx: Ctx, extra: Map<number, number>): void {
  for (const [accountId, bytes] of extra) {
    const a = ctx.st.get("SELECT address, quota_bytes FROM accounts WHERE id = ?").get(accountId) as
      | { address: string; quota_bytes: number | null }
      | undefined;
    if (!a || a.quota_bytes === null) continue;
    const used = (ctx.st.get("SELECT coalesce(sum(size), 0) AS used FROM mailboxes WHERE account_id = ?").get(accountId) as { used: number })
      .used;
    if (used + bytes > a.quota_bytes) {
      throw new StoreError("over-quota", `${a.address} is over quota (${used} + ${bytes} > ${a.quota_bytes} bytes)`);
    }
  }
}

/** Bytes added per account when one body of `size` goes into each of `mailboxes`. */
function perAccount(mailboxes: readonly MailboxRow[], size: number): Map<number, number> {
  const extra = new Map<number, number>();
  for (const mb of mailboxes) extra.set(mb.account_id, (extra.get(mb.account_id) ?? 0) + size);
  return extra;
}

const INSERT_MESSAGE =
  "INSERT INTO messages (mailbox_id, uid, modseq, flags, seen, deleted, internal_date, size, blob_id, parsed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

function insertRow(
  ctx: Ctx,
  mailboxId: Id,
  uid: number,
  modseq: number,
  flags: string,
  internalDate: number,
  size: number,
  blobId: number,
  parsed: string | null,
): number {
  const list = decodeFlags(flags);
  const info = ctx.st
    .get(INSERT_MESSAGE)
    .run(mailboxId, uid, modseq, flags, list.includes("\\Seen") ? 1 : 0, list.includes("\\Deleted") ? 1 : 0, internalDate, size, blobId, parsed);
  return Number(info.lastInsertRowid);
}

/** appendMessage and deliver: one body, one entry in each mailbox, all visible together. */
export async function deliver(ctx: Ctx, mailboxIds: Id[], message: NewMessage): Promise<AppendResult[]> {
  if (mailboxIds.length === 0) throw new StoreError("invalid", "no mailbox to deliver to");
  const flags = encodeFlags(normaliseFlags(message.flags ?? []));
  const internalDate = (message.internalDate ?? new Date()).getTime();
  if (!Number.isFinite(internalDate)) throw new StoreError("invalid", "invalid internal date");
  const parsed = encodeParsed(message.parsed);
  // Refuse early, before writing the body or taking the caller's file (checked again at commit).
  const targets = mailboxIds.map((id) => requireMailbox(ctx, id));
  const size = Buffer.isBuffer(message.body) ? message.body.length : message.body.size;
  checkQuota(ctx, perAccount(targets, size));
  const blob = await ctx.blobs.write(message.body);
  const results = await ctx.committer.submit(
    (tx: Tx) => {
      const rows = mailboxIds.map((id) => requireMailbox(ctx, id));
      checkQuota(ctx, perAccount(rows, blob.size));
      const blobId = insertBlobRow(ctx.st, blob);
      markPending(ctx, blobId); // indexed shortly, in a batch (textindex.ts)
      return rows.map((mb) => {
        const { uid, modseq } = reserve(ctx, mb, 1);
        const id = insertRow(ctx, mb.id, uid, modseq, flags, internalDate, blob.size, blobId, parsed);
        tx.events.push({ kind: "exists", mailboxId: mb.id, uid, modseq });
        return { mailboxId: mb.id, uidValidity: mb.uid_validity, uid, modseq, id };
      });
    },
    () => blob.undo(),
  );
  ctx.indexer?.kick();
  return results;
}

export function listMessages(ctx: Ctx, mailboxId: Id): MessageMeta[] {
  requireMailbox(ctx, mailboxId);
  const rows = ctx.st.get(`SELECT ${META_COLS} FROM messages WHERE mailbox_id = ? ORDER BY uid`).raw(true).all(mailboxId) as MetaTuple[];
  const out = new Array<MessageMeta>(rows.length);
  for (let i = 0; i < rows.length; i++) out[i] = toMeta(rows[i]!);
  return out;
}

function uidList(uids: readonly number[]): string {
  for (const u of uids) if (!Number.isSafeInteger(u)) throw new StoreError("invalid", `invalid UID ${u}`);
  return JSON.stringify(uids);
}

export function getMessages(ctx: Ctx, mailboxId: Id, uids: readonly number[]): MessageMeta[] {
  requireMailbox(ctx, mailboxId);
  if (uids.length === 0) return [];
  const rows = ctx.st
    .get(`SELECT ${META_COLS} FROM messages WHERE mailbox_id = ? AND uid IN (SELECT value FROM json_each(?)) ORDER BY uid`)
    .raw(true)
    .all(mailboxId, uidList(uids)) as MetaTuple[];
  return rows.map(toMeta);
}

function bodyOf(ctx: Ctx, messageId: Id): BodyLocation {
  const r = ctx.st.get("SELECT b.id, b.name, m.size FROM messages m JOIN blobs b ON b.id = m.blob_id WHERE m.id = ?").get(messageId) as
    | { id: number; name: string; size: number }
    | undefined;
  if (!r) throw new StoreError("not-found", `no message ${messageId}`);
  return locateBlob(ctx.st, ctx.blobs, r.id, r.name, r.size);
}

export function openBody(ctx: Ctx, messageId: Id, range?: { start: number; end?: number }): Readable {
  const body = bodyOf(ctx, messageId);
  if (range) {
    const { start, end } = range;
    if (!Number.isSafeInteger(start) || start < 0 || (end !== undefined && (!Number.isSafeInteger(end) || end < start))) {
      throw new StoreError("invalid", "invalid byte range");
    }
  }
  return streamBody(body, range);
}

export async function readBody(ctx: Ctx, messageId: Id): Promise<Buffer> {
  const body = bodyOf(ctx, messageId);
  return "inline" in body ? body.inline : fsp.readFile(body.path);
}

interface FlagRow {
  id: number;
  uid: number;
  modseq: number;
  flags: string;
}

export function storeFlags(
  ctx: Ctx,
  mailboxId: Id,
  uids: number[],
  op: FlagOp,
  flags: string[],
  unchangedSince?: number,
): Promise<StoreFlagsResult> {
  normaliseFlags(flags); // validate before queueing
  const list = uidList(uids);
  return ctx.committer.submit((tx: Tx) => {
    requireMailbox(ctx, mailboxId);
    const rows = ctx.st
      .get("SELECT id, uid, modseq, flags FROM messages WHERE mailbox_id = ? AND uid IN (SELECT value FROM json_each(?)) ORDER BY uid")
      .all(mailboxId, list) as FlagRow[];
    const changed: FlagChange[] = [];
    const modified: number[] = [];
    let modseq = 0;
    const update = ctx.st.get("UPDATE messages SET flags = ?, seen = ?, deleted = ?, modseq = ? WHERE id = ?");
    for (const r of rows) {
      // RFC 7162 §3.1.3: UNCHANGEDSINCE fails messages whose MODSEQ is greater, changed or not.
      if (unchangedSince !== undefined && r.modseq > unchangedSince) {
        modified.push(r.uid);
        continue;
      }
      const before = decodeFlags(r.flags);
      const after = applyFlagOp(before, op, flags);
      if (sameFlags(before, after)) continue;
      if (modseq === 0) modseq = newModseq(ctx, mailboxId);
      update.run(encodeFlags(after), after.includes("\\Seen") ? 1 : 0, after.includes("\\Deleted") ? 1 : 0, modseq, r.id);
      changed.push({ uid: r.uid, modseq, flags: after });
    }
    if (changed.length > 0) tx.events.push({ kind: "flags", mailboxId, changes: changed });
    return { changed, modified };
  });
}

/** Deletes rows (inside a write transaction) and remembers the UIDs for VANISHED. */
function removeUids(ctx: Ctx, tx: Tx, mailboxId: Id, uids: number[]): void {
  if (uids.length === 0) return;
  const modseq = newModseq(ctx, mailboxId);
  const del = ctx.st.get("DELETE FROM messages WHERE mailbox_id = ? AND uid = ?");
  const remember = ctx.st.get("INSERT OR REPLACE INTO expunged (mailbox_id, uid, modseq) VALUES (?, ?, ?)");
  for (const uid of uids) {
    del.run(mailboxId, uid);
    remember.run(mailboxId, uid, modseq);
  }
  tx.events.push({ kind: "expunge", mailboxId, uids, modseq });
}

export function expunge(ctx: Ctx, mailboxId: Id, uids?: number[]): Promise<number[]> {
  const list = uids === undefined ? null : uidList(uids);
  return ctx.committer.submit((tx: Tx) => {
    requireMailbox(ctx, mailboxId);
    const found = (
      list === null
        ? ctx.st.get("SELECT uid FROM messages WHERE mailbox_id = ? AND deleted = 1 ORDER BY uid").all(mailboxId)
        : ctx.st
            .get("SELECT uid FROM messages WHERE mailbox_id = ? AND uid IN (SELECT value FROM json_each(?)) ORDER BY uid")
            .all(mailboxId, list)
    ) as Array<{ uid: number }>;
    const removed = found.map((r) => r.uid);
    removeUids(ctx, tx, mailboxId, removed);
    return removed;
  });
}

interface CopyRow {
  uid: number;
  flags: string;
  internal_date: number;
  size: number;
  blob_id: number;
  parsed: string | null;
}

function copyIn(ctx: Ctx, tx: Tx, fromId: Id, uids: string, toId: Id): { result: CopyResult; sourceUids: number[] } {
  requireMailbox(ctx, fromId);
  const dest = requireMailbox(ctx, toId);
  const rows = ctx.st
    .get(
      "SELECT uid, flags, internal_date, size, blob_id, parsed FROM messages WHERE mailbox_id = ? AND uid IN (SELECT value FROM json_each(?)) ORDER BY uid",
    )
    .all(fromId, uids) as CopyRow[];
  if (rows.length === 0) return { result: { uidValidity: dest.uid_validity, mapping: [] }, sourceUids: [] };
  checkQuota(ctx, new Map([[dest.account_id, rows.reduce((n, r) => n + r.size, 0)]]));
  const { uid: first, modseq } = reserve(ctx, dest, rows.length);
  const mapping: Array<[number, number]> = [];
  rows.forEach((r, i) => {
    const uid = first + i;
    insertRow(ctx, dest.id, uid, modseq, r.flags, r.internal_date, r.size, r.blob_id, r.parsed);
    mapping.push([r.uid, uid]);
    tx.events.push({ kind: "exists", mailboxId: dest.id, uid, modseq });
  });
  return { result: { uidValidity: dest.uid_validity, mapping }, sourceUids: rows.map((r) => r.uid) };
}

/** RFC 4315 §3 COPYUID: the destination UIDs are assigned in source-UID order. */
export function copyMessages(ctx: Ctx, fromMailboxId: Id, uids: number[], toMailboxId: Id): Promise<CopyResult> {
  const list = uidList(uids);
  return ctx.committer.submit((tx: Tx) => copyIn(ctx, tx, fromMailboxId, list, toMailboxId).result);
}

/** RFC 6851 §3.3: copy, then expunge the originals, in one transaction. */
export function moveMessages(ctx: Ctx, fromMailboxId: Id, uids: number[], toMailboxId: Id): Promise<CopyResult> {
  const list = uidList(uids);
  return ctx.committer.submit((tx: Tx) => {
    const { result, sourceUids } = copyIn(ctx, tx, fromMailboxId, list, toMailboxId);
    removeUids(ctx, tx, fromMailboxId, sourceUids);
    return result;
  });
}

/** RFC 7162 §3.2.5: messages changed (or added) after `since`, and UIDs expunged after it. */
export function changesSince(ctx: Ctx, mailboxId: Id, since: number): { changed: MessageMeta[]; vanished: number[] } {
  requireMailbox(ctx, mailboxId);
  const changed = (
    ctx.st.get(`SELECT ${META_COLS} FROM messages WHERE mailbox_id = ? AND modseq > ? ORDER BY uid`).raw(true).all(mailboxId, since) as MetaTuple[]
  ).map(toMeta);
  const vanished = (
    ctx.st.get("SELECT uid FROM expunged WHERE mailbox_id = ? AND modseq > ? ORDER BY uid").all(mailboxId, since) as Array<{ uid: number }>
  ).map((r) => r.uid);
  return { changed, vanished };
}

/** Reads only the covering index messages_listing (db.ts), not the rows with their structures. */
export const LIST_SUMMARIES_SQL =
  "SELECT json_group_array(json_array(id, uid, modseq, flags, internal_date, size)) FROM (SELECT id, uid, modseq, flags, internal_date, size FROM messages WHERE mailbox_id = ? ORDER BY uid)";

/** A mailbox and its messages without their stored structures, read in one synchronous step so
 * `mailbox.highestModseq` is exactly the MODSEQ of the listed state (no commit can fall between
 * the two reads). Each distinct flag list is decoded once and shared, frozen, between rows. */
export function listSummaries(ctx: Ctx, mailboxId: Id): MailboxSnapshot {
  const mb = requireMailbox(ctx, mailboxId);
  // One JSON text for the whole mailbox: materialising one row object per message in the driver
  // costs about twice as much as SQLite building the text and JSON.parse reading it.
  const json = ctx.st
    .get(LIST_SUMMARIES_SQL)
    .pluck(true)
    .get(mailboxId) as string;
  const rows = JSON.parse(json) as Array<[number, number, number, string, number, number]>;
  for (let i = 1; i < rows.length; i++) {
    if (rows[i - 1]![1] > rows[i]![1]) {
      rows.sort((a, b) => a[1] - b[1]); // SQLite does not promise the aggregate keeps the order
      break;
    }
  }
  const decoded = new Map<string, string[]>();
  const messages = new Array<MessageSummary>(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!;
    let flags = decoded.get(r[3]);
    if (!flags) {
      flags = Object.freeze(decodeFlags(r[3])) as string[];
      decoded.set(r[3], flags);
    }
    messages[i] = { id: r[0], mailboxId, uid: r[1], modseq: r[2], flags, internalDate: new Date(r[4]), size: r[5] };
  }
  return { mailbox: toMailbox(mb), messages };
}
