// The outbound queue and the persisted ban list of the SQLite store.
//
// Invariants: a queued message's body is durable before its row commits (like appendMessage);
// queue ids are 16 random hex characters (URL-safe, unguessable); the body file is unlinked after
// the commit that deletes the last row referring to it. Bans are keyed by subject (an IP or CIDR).

import { randomBytes } from "node:crypto";
import type { Readable } from "node:stream";
import { StoreError } from "./types.js";
import type { Ban, NewQueuedMessage, QueuedMessage, QueueRecipient } from "./types.js";
import type { Ctx } from "./context.js";
import { insertBlobRow, locateBlob, streamBody } from "./blobs.js";

interface QueueRow {
  id: string;
  sender: string;
  recipients: string;
  domain: string;
  size: number;
  blob_id: number;
  created_at: number;
  next_attempt_at: number;
  attempts: number;
  last_error: string | null;
  delay_notice_sent: number;
  meta: string | null;
}

const toQueued = (r: QueueRow): QueuedMessage => ({
  id: r.id,
  sender: r.sender,
  recipients: JSON.parse(r.recipients) as QueueRecipient[],
  domain: r.domain,
  size: r.size,
  createdAt: new Date(r.created_at),
  nextAttemptAt: new Date(r.next_attempt_at),
  attempts: r.attempts,
  lastError: r.last_error,
  delayNoticeSent: r.delay_notice_sent !== 0,
  meta: r.meta === null ? null : (JSON.parse(r.meta) as unknown),
});

function envelopeAddress(a: string, what: string): string {
  // Envelope addresses may be quoted local parts; only line breaks and NUL are refused here.
  if (/[\r\n\0]/.test(a)) throw new StoreError("invalid", `invalid ${what} address`);
  return a.trim().toLowerCase();
}

function queuedRow(ctx: Ctx, id: string): QueueRow | undefined {
  return ctx.st.get("SELECT * FROM queue WHERE id = ?").get(id) as QueueRow | undefined;
}

export async function enqueue(ctx: Ctx, m: NewQueuedMessage): Promise<QueuedMessage> {
  const sender = envelopeAddress(m.sender, "sender");
  if (m.recipients.length === 0) throw new StoreError("invalid", "a queued message needs recipients");
  const recipients: QueueRecipient[] = m.recipients.map((r) => ({ address: envelopeAddress(r, "recipient"), status: "pending", lastReply: null }));
  const domain = m.domain.trim().toLowerCase().replace(/\.$/, "");
  if (domain === "" || /[\s\0]/.test(domain)) throw new StoreError("invalid", "invalid destination domain");
  const meta = m.meta === undefined ? null : JSON.stringify(m.meta);
  const blob = await ctx.blobs.write(m.body);
  return ctx.committer.submit(
    () => {
      const id = randomBytes(8).toString("hex");
      const blobId = insertBlobRow(ctx.st, blob);
      const now = Date.now();
      ctx.st
        .get(
          "INSERT INTO queue (id, sender, recipients, domain, size, blob_id, created_at, next_attempt_at, meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .run(id, sender, JSON.stringify(recipients), domain, blob.size, blobId, now, now, meta);
      return toQueued(queuedRow(ctx, id)!);
    },
    () => blob.undo(),
  );
}

export function getQueued(ctx: Ctx, id: string): QueuedMessage | null {
  const r = queuedRow(ctx, id);
  return r ? toQueued(r) : null;
}

export function listQueue(ctx: Ctx): QueuedMessage[] {
  return (ctx.st.get("SELECT * FROM queue ORDER BY created_at, id").all() as QueueRow[]).map(toQueued);
}

export function dueQueue(ctx: Ctx, now: Date, limit: number): QueuedMessage[] {
  if (!Number.isSafeInteger(limit) || limit < 0) throw new StoreError("invalid", `invalid limit ${limit}`);
  return (
    ctx.st.get("SELECT * FROM queue WHERE next_attempt_at <= ? ORDER BY created_at, id LIMIT ?").all(now.getTime(), limit) as QueueRow[]
  ).map(toQueued);
}

export function updateQueued(
  ctx: Ctx,
  id: string,
  u: Partial<Pick<QueuedMessage, "recipients" | "nextAttemptAt" | "attempts" | "lastError" | "delayNoticeSent" | "meta">>,
): Promise<void> {
  const sets: string[] = [];
  const values: unknown[] = [];
  if (u.recipients !== undefined) (sets.push("recipients = ?"), values.push(JSON.stringify(u.recipients)));
  if (u.nextAttemptAt !== undefined) (sets.push("next_attempt_at = ?"), values.push(u.nextAttemptAt.getTime()));
  if (u.attempts !== undefined) (sets.push("attempts = ?"), values.push(u.attempts));
  if (u.lastError !== undefined) (sets.push("last_error = ?"), values.push(u.lastError));
  if (u.delayNoticeSent !== undefined) (sets.push("delay_notice_sent = ?"), values.push(u.delayNoticeSent ? 1 : 0));
  if (u.meta !== undefined) (sets.push("meta = ?"), values.push(u.meta === null ? null : JSON.stringify(u.meta)));
  return ctx.committer.submit(() => {
    if (!queuedRow(ctx, id)) throw new StoreError("not-found", `no queued message ${id}`);
    if (sets.length > 0) ctx.st.get(`UPDATE queue SET ${sets.join(", ")} WHERE id = ?`).run(...values, id);
  });
}

export function openQueuedBody(ctx: Ctx, id: string): Readable {
  const r = ctx.st.get("SELECT b.id, b.name, b.size FROM queue q JOIN blobs b ON b.id = q.blob_id WHERE q.id = ?").get(id) as
    | { id: number; name: string; size: number }
    | undefined;
  if (!r) throw new StoreError("not-found", `no queued message ${id}`);
  return streamBody(locateBlob(ctx.st, ctx.blobs, r.id, r.name, r.size));
}

export function deleteQueued(ctx: Ctx, id: string): Promise<void> {
  return ctx.committer.submit(() => {
    const info = ctx.st.get("DELETE FROM queue WHERE id = ?").run(id);
    if (info.changes === 0) throw new StoreError("not-found", `no queued message ${id}`);
  });
}

// ---- bans

interface BanRow {
  subject: string;
  reason: string;
  created_at: number;
  expires_at: number | null;
  offences: number;
}

export function putBan(ctx: Ctx, ban: Ban): Promise<void> {
  if (ban.subject.trim() === "") throw new StoreError("invalid", "empty ban subject");
  return ctx.committer.submit(() => {
    ctx.st
      .get(
        `INSERT INTO bans (subject, reason, created_at, expires_at, offences) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (subject) DO UPDATE SET reason = excluded.reason, created_at = excluded.created_at,
           expires_at = excluded.expires_at, offences = excluded.offences`,
      )
      .run(ban.subject.trim(), ban.reason, ban.createdAt.getTime(), ban.expiresAt?.getTime() ?? null, ban.offences);
  });
}

export function getBans(ctx: Ctx): Ban[] {
  return (ctx.st.get("SELECT * FROM bans ORDER BY subject").all() as BanRow[]).map((r) => ({
    subject: r.subject,
    reason: r.reason,
    createdAt: new Date(r.created_at),
    expiresAt: r.expires_at === null ? null : new Date(r.expires_at),
    offences: r.offences,
  }));
}

export function deleteBan(ctx: Ctx, subject: string): Promise<boolean> {
  return ctx.committer.submit(() => ctx.st.get("DELETE FROM bans WHERE subject = ?").run(subject.trim()).changes > 0);
}
