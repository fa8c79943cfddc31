// Mailboxes of the SQLite store: create, rename, delete, subscribe, status.
//
// Invariants:
// - RFC 9051 §2.3.1.1: UIDVALIDITY is a non-zero 32-bit value, fixed for the life of a mailbox;
//   values come from one store-wide counter that never goes back (seeded with the clock), so a
//   re-created name always gets a new value, even within the same second.
// - uid_next and highest_modseq live in the mailbox row and only grow.
// - The status counters (messages, unseen, deleted, size) are kept by triggers (db.ts), so
//   mailboxStatus reads one row.

import { StoreError } from "./types.js";
import type { Id, Mailbox, MailboxStatus, SpecialUse } from "./types.js";
import type { Ctx, Tx } from "./context.js";
import { normaliseMailboxName } from "./normalize.js";

export interface MailboxRow {
  id: number;
  account_id: number;
  name: string;
  special_use: string | null;
  subscribed: number;
  uid_validity: number;
  uid_next: number;
  highest_modseq: number;
  messages: number;
  unseen: number;
  deleted: number;
  size: number;
}

const SPECIAL_USES = new Set<string>(["\\Sent", "\\Drafts", "\\Trash", "\\Junk", "\\Archive", "\\All", "\\Flagged"]);

export const toMailbox = (r: MailboxRow): Mailbox => ({
  id: r.id,
  accountId: r.account_id,
  name: r.name,
  specialUse: r.special_use as SpecialUse | null,
  subscribed: r.subscribed !== 0,
  uidValidity: r.uid_validity,
  uidNext: r.uid_next,
  highestModseq: r.highest_modseq,
});

export function mailboxRow(ctx: Ctx, id: Id): MailboxRow | undefined {
  return ctx.st.get("SELECT * FROM mailboxes WHERE id = ?").get(id) as MailboxRow | undefined;
}

/** The mailbox row or StoreError("not-found"). */
export function requireMailbox(ctx: Ctx, id: Id): MailboxRow {
  const r = mailboxRow(ctx, id);
  if (!r) throw new StoreError("not-found", `no mailbox ${id}`);
  return r;
}

/** Next UIDVALIDITY from the store-wide counter (call inside a write transaction). */
function nextUidValidity(ctx: Ctx): number {
  const row = ctx.st.get("SELECT value FROM meta WHERE key = 'uidvalidity'").get() as { value: number } | undefined;
  let v = Math.max(row?.value ?? 0, Math.floor(Date.now() / 1000));
  if (v > 0xffffffff || v < 1) v = 1; // wraps in 2106; still non-zero
  ctx.st.get("INSERT INTO meta (key, value) VALUES ('uidvalidity', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(v + 1);
  return v;
}

/** Inserts a mailbox row (inside a write transaction). */
export function insertMailbox(ctx: Ctx, accountId: Id, name: string, specialUse: SpecialUse | null): number {
  const n = normaliseMailboxName(name);
  if (specialUse !== null && !SPECIAL_USES.has(specialUse)) throw new StoreError("invalid", `unknown special-use ${specialUse}`);
  if (ctx.st.get("SELECT 1 FROM mailboxes WHERE account_id = ? AND name = ?").get(accountId, n)) {
    throw new StoreError("exists", `mailbox ${n} already exists`);
  }
  const info = ctx.st
    .get("INSERT INTO mailboxes (account_id, name, special_use, uid_validity) VALUES (?, ?, ?, ?)")
    .run(accountId, n, specialUse, nextUidValidity(ctx));
  return Number(info.lastInsertRowid);
}

export function listMailboxes(ctx: Ctx, accountId: Id): Mailbox[] {
  const rows = ctx.st
    .get("SELECT * FROM mailboxes WHERE account_id = ? ORDER BY name != 'INBOX', name")
    .all(accountId) as MailboxRow[];
  return rows.map(toMailbox);
}

export function getMailbox(ctx: Ctx, accountId: Id, name: string): Mailbox | null {
  let n: string;
  try {
    n = normaliseMailboxName(name);
  } catch {
    return null;
  }
  const r = ctx.st.get("SELECT * FROM mailboxes WHERE account_id = ? AND name = ?").get(accountId, n) as MailboxRow | undefined;
  return r ? toMailbox(r) : null;
}

export function getMailboxById(ctx: Ctx, id: Id): Mailbox | null {
  const r = mailboxRow(ctx, id);
  return r ? toMailbox(r) : null;
}

export function createMailbox(ctx: Ctx, accountId: Id, name: string, specialUse: SpecialUse | null = null): Promise<Mailbox> {
  return ctx.committer.submit(() => {
    if (!ctx.st.get("SELECT 1 FROM accounts WHERE id = ?").get(accountId)) throw new StoreError("not-found", `no account ${accountId}`);
    return toMailbox(mailboxRow(ctx, insertMailbox(ctx, accountId, name, specialUse))!);
  });
}

export function deleteMailbox(ctx: Ctx, mailboxId: Id): Promise<void> {
  return ctx.committer.submit((tx: Tx) => {
    requireMailbox(ctx, mailboxId);
    // Cascades to messages and expunged UIDs; blob references drop via triggers.
    ctx.st.get("DELETE FROM mailboxes WHERE id = ?").run(mailboxId);
    tx.events.push({ kind: "deleted", mailboxId });
  });
}

/** Renames the mailbox and every mailbox below it ("a" -> "b" moves "a/x" to "b/x"). */
export function renameMailbox(ctx: Ctx, mailboxId: Id, newName: string): Promise<void> {
  const target = normaliseMailboxName(newName);
  return ctx.committer.submit(() => {
    const mb = requireMailbox(ctx, mailboxId);
    if (mb.name === target) throw new StoreError("exists", `mailbox ${target} already exists`);
    const prefix = `${mb.name}/`;
    // Children are found in JS: SQLite's substr() counts characters, JS counts UTF-16 units.
    const all = ctx.st.get("SELECT id, name FROM mailboxes WHERE account_id = ?").all(mb.account_id) as Array<{ id: number; name: string }>;
    const moving = all
      .filter((r) => r.id === mb.id || r.name.startsWith(prefix))
      .map((r) => ({ id: r.id, to: r.id === mb.id ? target : target + r.name.slice(mb.name.length) }));
    const movingIds = new Set(moving.map((m) => m.id));
    const exists = ctx.st.get("SELECT id FROM mailboxes WHERE account_id = ? AND name = ?");
    for (const m of moving) {
      const clash = exists.get(mb.account_id, m.to) as { id: number } | undefined;
      if (clash && !movingIds.has(clash.id)) throw new StoreError("exists", `mailbox ${m.to} already exists`);
    }
    // Two steps so that names inside the moving set cannot collide half-way ("a" -> "a/a").
    const setName = ctx.st.get("UPDATE mailboxes SET name = ? WHERE id = ?");
    for (const m of moving) setName.run(`\u0000renaming\u0000${m.id}`, m.id);
    for (const m of moving) setName.run(m.to, m.id);
  });
}

export function setSubscribed(ctx: Ctx, mailboxId: Id, subscribed: boolean): Promise<void> {
  return ctx.committer.submit(() => {
    requireMailbox(ctx, mailboxId);
    ctx.st.get("UPDATE mailboxes SET subscribed = ? WHERE id = ?").run(subscribed ? 1 : 0, mailboxId);
  });
}

export function mailboxStatus(ctx: Ctx, mailboxId: Id): MailboxStatus {
  const r = requireMailbox(ctx, mailboxId);
  return {
    messages: r.messages,
    unseen: r.unseen,
    deleted: r.deleted,
    uidNext: r.uid_next,
    uidValidity: r.uid_validity,
    highestModseq: r.highest_modseq,
    size: r.size,
  };
}
