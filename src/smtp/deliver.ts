// The end of a mail transaction (after DATA's final dot or BDAT LAST): the checks that need the
// whole message, then durable delivery, then — and only then — 250 (RFC 5321 §4.1.1.4, §6.1).
//
// Order of checks: bare CR/LF (SMTP smuggling, RFC 5321 §2.3.8), size (RFC 1870), header
// section size, hop count (RFC 5321 §6.3), From: binding on submission. Delivery: local
// recipients' INBOXes in one atomic store.deliver() (accounts de-duplicated), then one queue
// entry per destination domain for remote recipients.
//
// Invariants:
// - 250 is sent only after every store call resolved (the store fsyncs before resolving); any
//   failure gets a 4xx/5xx and the client keeps responsibility for the message.
// - Temp files made here are removed whatever happens (the store may already have renamed them).

import { rm } from "node:fs/promises";
import type { Helo, Transaction } from "./state.js";
import type { Session } from "./session.js";
import { Spool } from "./spool.js";
import { receivedHeader, returnPathHeader } from "./trace.js";
import { SmtpError, reply } from "./reply.js";
import { countFields, normalizeHeaderAddress, parseAddressList, parseHeaderFields } from "./headers.js";
import { ownsAddress } from "./resolve.js";
import { StoreError } from "../store/types.js";
import { audit } from "../log/audit.js";

/** Creates the spool for a transaction, with Return-Path: and our Received: already written. */
export async function openSpool(s: Session, helo: Helo, tx: Transaction): Promise<Spool> {
  const dir = await s.shared.spoolDir();
  const tls = s.conn.tls;
  const received = receivedHeader({
    helo: helo.name,
    esmtp: helo.esmtp,
    smtputf8: tx.mail.smtputf8,
    remoteAddress: s.conn.remoteAddress,
    hostname: s.hostname,
    id: tx.id,
    tls: tls ? { version: tls.version, cipher: tls.cipher } : null,
    authenticated: s.account !== null,
    authUser: s.account && s.config.smtp.received_header_auth_user ? s.account.address : null,
    recipient: tx.recipients.length === 1 ? tx.recipients[0]!.address : null,
    date: new Date(),
  });
  return Spool.create(dir, s.config.limits.max_message_size, returnPathHeader(tx.sender), received);
}

/** Checks the complete message in `spool` and delivers it; sends 250 or throws SmtpError. */
export async function acceptMessage(s: Session, tx: Transaction, spool: Spool): Promise<void> {
  const fileSize = await spool.finish();
  if (spool.bareLineEnding) {
    s.audit("smtp.protocol.abuse", { reason: "bare-line-ending", id: tx.id, sender: tx.sender }, "warn");
    throw new SmtpError(reply(550, "5.6.11", "Bare LF or CR not allowed in message (RFC 5321 §2.3.8)"));
  }
  if (spool.overLimit) {
    throw new SmtpError(reply(552, "5.3.4", `Message too big (limit ${s.config.limits.max_message_size} octets)`), { bad: false });
  }
  const header = spool.header();
  if (header === null) throw new SmtpError(reply(552, "5.3.4", "Header section too big"), { bad: false });
  const { fields } = parseHeaderFields(header);
  const hops = countFields(fields, "received");
  if (hops > s.config.smtp.max_received_headers) {
    // RFC 5321 §6.3: a loop; refuse rather than pass it on.
    throw new SmtpError(reply(554, "5.4.6", `Too many Received: headers (${hops}): mail loop`), { bad: false });
  }
  if (s.role === "submission" && s.account) await checkFromHeader(s, fields, tx);

  const localAccounts = new Set<number>();
  const remote = new Map<string, string[]>();
  for (const r of tx.recipients) {
    if (r.kind === "local") r.accountIds.forEach((id) => localAccounts.add(id));
    else {
      const list = remote.get(r.domain) ?? [];
      if (!list.includes(r.address)) list.push(r.address);
      remote.set(r.domain, list);
    }
  }

  const store = s.services.store;
  const temps: string[] = [];
  try {
    // Queue copies first: the store may take over the spool file itself for local delivery.
    const queueBodies: Array<{ domain: string; recipients: string[]; body: { path: string; size: number } }> = [];
    const dir = await s.shared.spoolDir();
    for (const [domain, recipients] of remote) {
      const body = await spool.copyForQueue(dir);
      temps.push(body.path);
      queueBodies.push({ domain, recipients, body });
    }
    if (localAccounts.size > 0) {
      const mailboxIds: number[] = [];
      for (const accountId of localAccounts) {
        const inbox = await store.getMailbox(accountId, "INBOX");
        if (!inbox) throw new Error(`account ${accountId} has no INBOX`);
        mailboxIds.push(inbox.id);
      }
      await store.deliver(mailboxIds, { body: { path: spool.path, size: fileSize }, internalDate: new Date() });
    }
    for (const q of queueBodies) {
      const queued = await store.enqueue({
        sender: tx.sender,
        recipients: q.recipients,
        domain: q.domain,
        body: q.body,
        meta: { submittedBy: s.account?.address ?? null, smtputf8: tx.mail.smtputf8, body: tx.mail.body, receivedId: tx.id },
      });
      audit(s.conn.log, "queue.enqueued", { id: queued.id, domain: q.domain, recipients: q.recipients.length, size: q.body.size, from: tx.id });
    }
  } catch (e) {
    if (e instanceof StoreError && e.code === "over-quota") {
      s.audit("smtp.rcpt.refused", { id: tx.id, reason: "over-quota" }, "warn");
      throw new SmtpError(reply(552, "5.2.2", "Mailbox full"), { bad: false });
    }
    throw e;
  } finally {
    await Promise.all(temps.map((p) => rm(p, { force: true })));
  }

  if (s.account) s.shared.limiter.record(s.account.id, tx.recipients.map((r) => r.address));
  s.audit("smtp.received", {
    id: tx.id,
    size: spool.size,
    sender: tx.sender,
    recipients: tx.recipients.length,
    local: localAccounts.size,
    remoteDomains: remote.size,
    tls: s.conn.tls ? `${s.conn.tls.version} ${s.conn.tls.cipher}` : null,
    account: s.account?.address ?? null,
  });
  await s.send(reply(250, "2.0.0", `Ok: queued as ${tx.id}`));
}

/** Submission: every From: address must be one the account owns (threat model §2). */
async function checkFromHeader(s: Session, fields: ReturnType<typeof parseHeaderFields>["fields"], tx: Transaction): Promise<void> {
  const account = s.account!;
  const from = fields.filter((f) => f.name.toLowerCase() === "from");
  const refuse = (why: string, value: string): never => {
    s.audit("smtp.sender.refused", { account: account.address, where: "header", reason: why, from: value.slice(0, 200), id: tx.id }, "warn");
    throw new SmtpError(reply(553, "5.7.1", `From: header refused: ${why}`));
  };
  if (from.length === 0) refuse("no From: header", "");
  if (from.length > 1) refuse("more than one From: header", from.map((f) => f.value).join(" | ")); // RFC 5322 §3.6
  const value = from[0]!.value;
  const addresses = parseAddressList(value);
  if (addresses === null || addresses.length === 0) refuse("cannot parse From: header", value);
  for (const a of addresses!) {
    const addr = normalizeHeaderAddress(a);
    if (!(await ownsAddress(s.services.store, account, addr))) refuse(`<${addr}> is not owned by ${account.address}`, value);
  }
}
