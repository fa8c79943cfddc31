// Sending delivery status notifications: to the sender's INBOX when the sender is local (an
// account, or an alias of local accounts), otherwise queued for delivery from the null sender.
//
// Invariants: never a notice about a message whose own sender is null (RFC 3464 §2 / RFC 5321
// §4.5.5: no DSN loops); a notice is queued with sender "" so it can never cause another; a notice
// for a local address that no longer exists is dropped with a log line, not queued.

import type { Readable } from "node:stream";
import type { Store } from "../store/types.js";
import { audit, type AuditLogger } from "../log/audit.js";
import { buildDsn, headerSection, type DsnRecipient } from "./dsn.js";

/** Reads at most `max` bytes from the start of a stream, then stops it. */
export async function readHead(stream: Readable, max = 64 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  try {
    for await (const c of stream) {
      const b = c as Buffer;
      chunks.push(b);
      n += b.length;
      if (n >= max || b.includes("\r\n\r\n")) break;
    }
  } finally {
    stream.destroy();
  }
  return Buffer.concat(chunks).subarray(0, max);
}

export interface NoticeContext {
  store: Store;
  log: AuditLogger;
  hostname: string;
  now: () => Date;
  /** Called after a notice was queued (wakes the runner). */
  queued: () => void;
}

export interface NoticeRequest {
  kind: "failure" | "delay";
  queueId: string;
  sender: string;
  arrivalDate: Date;
  willRetryUntil?: Date;
  recipients: DsnRecipient[];
}

/** Builds and sends one notice. Returns where it went, or null when none is sent. */
export async function sendNotice(c: NoticeContext, r: NoticeRequest): Promise<"local" | "queued" | null> {
  if (r.sender === "" || r.recipients.length === 0) return null; // never a DSN for a DSN
  const head = await readHead(await c.store.openQueuedBody(r.queueId));
  const body = buildDsn({
    kind: r.kind,
    hostname: c.hostname,
    to: r.sender,
    queueId: r.queueId,
    arrivalDate: r.arrivalDate,
    now: c.now(),
    ...(r.willRetryUntil ? { willRetryUntil: r.willRetryUntil } : {}),
    recipients: r.recipients,
    originalHeaders: headerSection(head),
  });
  const sender = r.sender.toLowerCase();
  const at = sender.lastIndexOf("@");
  const domain = at >= 0 ? sender.slice(at + 1) : "";
  const accountIds: number[] = [];
  const account = await c.store.getAccount(sender);
  if (account) accountIds.push(account.id);
  else {
    const alias = await c.store.getAlias(sender);
    for (const t of alias?.targets ?? []) {
      const a = await c.store.getAccount(t);
      if (a && !accountIds.includes(a.id)) accountIds.push(a.id);
    }
  }
  if (accountIds.length > 0) {
    const mailboxIds: number[] = [];
    for (const id of accountIds) {
      const inbox = await c.store.getMailbox(id, "INBOX");
      if (inbox) mailboxIds.push(inbox.id);
    }
    // RFC 5321 §4.4: final delivery records the (null) reverse-path.
    await c.store.deliver(mailboxIds, { body: Buffer.concat([Buffer.from("Return-Path: <>\r\n"), body]), internalDate: c.now() });
    audit(c.log, "queue.dsn", { id: r.queueId, kind: r.kind, to: sender, local: true, recipients: r.recipients.length });
    return "local";
  }
  if (domain === "" || (await c.store.getDomain(domain))) {
    c.log.warn({ id: r.queueId, to: sender }, "delivery notice dropped: the sender is a local address that does not exist");
    return null;
  }
  const q = await c.store.enqueue({ sender: "", recipients: [sender], domain, body, meta: { dsn: true, about: r.queueId } });
  audit(c.log, "queue.dsn", { id: r.queueId, kind: r.kind, to: sender, local: false, queued: q.id, recipients: r.recipients.length });
  c.queued();
  return "queued";
}
