// The end of a mail transaction (after DATA's final dot or BDAT LAST): the checks that need the
// whole message, then durable delivery, then — and only then — 250 (RFC 5321 §4.1.1.4, §6.1).
//
// Order of checks: bare CR/LF (SMTP smuggling, RFC 5321 §2.3.8), size (RFC 1870), header
// section size, hop count (RFC 5321 §6.3), From: binding on submission, then on MX (not
// authenticated) SPF/DKIM/DMARC (src/mailauth/verify.ts): a DMARC p=reject failure is refused
// with 550 5.7.1, a quarantine failure (and mail faking our own domains) is filed to Junk.
// Delivery: local recipients' INBOXes (or Junk) in one atomic store.deliver() (accounts
// de-duplicated), then one queue entry per destination domain for remote recipients.
//
// Authentication-Results (RFC 8601 §5): on MX the message is rewritten once into a new spool file
// — Return-Path: and Received: as spooled, our Authentication-Results:, the header section as
// received minus any Authentication-Results: claiming our host name, then the body streamed from
// the spool (never read whole into memory). Verification itself streams the spool file into
// mailauth, so DKIM body hashes cover the whole message whatever its size. On submission only
// forged Authentication-Results: fields are removed (the file is rewritten only when there are
// some).
//
// Invariants:
// - 250 is sent only after every store call resolved (the store fsyncs before resolving); any
//   failure gets a 4xx/5xx and the client keeps responsibility for the message.
// - Temp files made here are removed whatever happens (the store may already have renamed them).
// - The file handed to the store is complete (closed) before store.deliver(), which fsyncs it.

import { readFile, rm, stat } from "node:fs/promises";
import { createWriteStream } from "node:fs";
import { pipeline } from "node:stream/promises";
import type { Helo, Transaction } from "./state.js";
import type { Session } from "./session.js";
import { Spool, tempPath, type SpoolContent } from "./spool.js";
import { receivedHeader, returnPathHeader } from "./trace.js";
import { SmtpError, reply } from "./reply.js";
import { countFields, normalizeHeaderAddress, parseAddressList, parseHeaderFields } from "./headers.js";
import { ownsAddress } from "./resolve.js";
import { StoreError } from "../store/types.js";
import { audit } from "../log/audit.js";
import type { Store, Id, NewMessage } from "../store/types.js";
import { stripOwnAuthResults, verifyInbound, VerifyTimeout, type InboundVerdict } from "../mailauth/verify.js";
import { parseMessage, type ParsedMessage } from "../imap/mime.js";

/** Messages up to this size are parsed at delivery; larger ones are parsed by IMAP on demand, so
 * that one delivery never holds more than this in memory. */
const PARSE_AT_DELIVERY_MAX = 16 * 1024 * 1024;

/** The message's MIME structure (ENVELOPE, BODYSTRUCTURE, part offsets, searchable headers),
 * parsed once here and stored with it, so IMAP FETCH and header SEARCH never re-read the body.
 * The spooled file always has CRLF line ends (bare CR/LF are refused in DATA and BDAT). */
async function parseOnce(body: Body): Promise<ParsedMessage | null> {
  if (Buffer.isBuffer(body)) return parseMessage(body);
  if (body.size > PARSE_AT_DELIVERY_MAX) return null;
  return parseMessage(await readFile(body.path));
}

/** A message for the store: in memory, or a closed file. */
type Body = NewMessage["body"];

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
  const content = await spool.finish();
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
  // Threat model §3: mail from outside (MX, no AUTH) is authenticated; our own users are not.
  const verdict = s.role === "mx" && !s.account && s.config.mailauth.enabled ? await checkAuthentication(s, tx, spool, content) : null;

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
  const junk = verdict?.disposition.action === "junk";
  try {
    // RFC 8601 §5: our Authentication-Results: on top, forged ones claiming our name removed.
    let localBody: Body = content.kind === "memory" ? content.data : { path: content.path, size: content.size };
    if (localAccounts.size > 0) {
      const rewritten = await rewriteHeader(s, spool, content, header, verdict?.header ?? "");
      if (rewritten) {
        if (!Buffer.isBuffer(rewritten)) temps.push(rewritten.path);
        localBody = rewritten;
      }
    }
    // Queue copies first: the store may take over the spool file itself for local delivery.
    const queueBodies: Array<{ domain: string; recipients: string[]; body: Body }> = [];
    const dir = await s.shared.spoolDir();
    for (const [domain, recipients] of remote) {
      const body = await spool.copyForQueue(dir);
      if (!Buffer.isBuffer(body)) temps.push(body.path);
      queueBodies.push({ domain, recipients, body });
    }
    if (localAccounts.size > 0) {
      const mailboxIds: number[] = [];
      for (const accountId of localAccounts) {
        if (junk) {
          mailboxIds.push(await junkMailbox(store, accountId));
          continue;
        }
        const inbox = await store.getMailbox(accountId, "INBOX");
        if (!inbox) throw new Error(`account ${accountId} has no INBOX`);
        mailboxIds.push(inbox.id);
      }
      await store.deliver(mailboxIds, { body: localBody, internalDate: new Date(), parsed: await parseOnce(localBody) });
    }
    for (const q of queueBodies) {
      const queued = await store.enqueue({
        sender: tx.sender,
        recipients: q.recipients,
        domain: q.domain,
        body: q.body,
        meta: { submittedBy: s.account?.address ?? null, smtputf8: tx.mail.smtputf8, body: tx.mail.body, receivedId: tx.id },
      });
      const size = Buffer.isBuffer(q.body) ? q.body.length : q.body.size;
      audit(s.conn.log, "queue.enqueued", { id: queued.id, domain: q.domain, recipients: q.recipients.length, size, from: tx.id });
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
    ...(verdict ? { auth: authSummary(verdict), folder: junk ? "Junk" : "INBOX" } : {}),
    ...(verdict && verdict.disposition.action === "junk" ? { junkReason: verdict.disposition.reason } : {}),
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

/** The results in a short form for the audit log and the refusal text. */
function authSummary(v: InboundVerdict): Record<string, string> {
  return { spf: v.spf, dkim: v.dkim.join(",") || "none", dmarc: v.dmarc, arc: v.arc };
}

/** The EHLO/HELO name of the transaction's session. */
function heloName(s: Session): string {
  const st = s.state;
  return st.kind === "ready" || st.kind === "mail" || st.kind === "rcpt" || st.kind === "bdat" ? st.helo.name : "";
}

/** SPF/DKIM/DMARC of an inbound message (the spool file, past our trace fields, streamed into
 * mailauth). Refuses (550 5.7.1) on a DMARC p=reject failure; 451 when DNS is too slow or the
 * check breaks — the sender retries, nothing unchecked is delivered. */
async function checkAuthentication(s: Session, tx: Transaction, spool: Spool, content: SpoolContent): Promise<InboundVerdict> {
  // In memory: the buffer itself (no stream machinery); a file: streamed (never read whole).
  const input = content.kind === "memory" ? content.data.subarray(spool.prefixLength) : spool.readFrom(spool.prefixLength);
  let verdict: InboundVerdict;
  try {
    verdict = await verifyInbound(
      input,
      { ip: s.conn.remoteAddress, helo: heloName(s), sender: tx.sender },
      { authservId: s.hostname, localDomains: await s.localDomains(), lookup: s.shared.dnsLookup, dmarcReject: s.config.mailauth.dmarc_reject },
    );
  } catch (e) {
    if (e instanceof VerifyTimeout) {
      s.audit("smtp.sender.refused", { id: tx.id, sender: tx.sender, where: "mailauth", reason: "timeout" }, "warn");
      throw new SmtpError(reply(451, "4.4.3", "Sender authentication (SPF/DKIM/DMARC) timed out, try again later"), { bad: false });
    }
    s.conn.log.error({ event: "session.error", err: e instanceof Error ? e.message : String(e), id: tx.id, where: "mailauth" });
    throw new SmtpError(reply(451, "4.7.0", "Sender authentication (SPF/DKIM/DMARC) failed temporarily, try again later"), { bad: false });
  } finally {
    if (!Buffer.isBuffer(input)) input.destroy();
  }
  if (verdict.disposition.action === "reject") {
    const sum = authSummary(verdict);
    s.audit("smtp.sender.refused", { id: tx.id, sender: tx.sender, where: "dmarc", reason: verdict.disposition.reason, ...sum }, "warn");
    // RFC 7489 §6.6.2 / §7.3: refused in the SMTP transaction, the reply names the DMARC result.
    throw new SmtpError(
      reply(550, "5.7.1", `Message refused by DMARC policy: ${verdict.disposition.reason}; spf=${sum.spf} dkim=${sum.dkim}`),
      { bad: false },
    );
  }
  return verdict;
}

/**
 * Writes the message for local delivery to a new spool file: Return-Path: and Received: as
 * spooled, then `authResults`, then the header section without Authentication-Results: fields
 * claiming our host name (RFC 8601 §5), then the body, streamed. Returns null when nothing would
 * change (no header to add and none to remove).
 */
async function rewriteHeader(s: Session, spool: Spool, content: SpoolContent, header: Buffer, authResults: string): Promise<Body | null> {
  const stripped = stripOwnAuthResults(header, s.hostname);
  // Info, not warn: mail we delivered before (forwarded back to us) legitimately carries our old fields.
  if (stripped.removed > 0) s.audit("smtp.protocol.abuse", { reason: "forged-authentication-results", count: stripped.removed });
  if (authResults === "" && stripped.removed === 0) return null;
  const prefix = await spool.slice(0, spool.prefixLength);
  const head = Buffer.concat([prefix, Buffer.from(authResults, "utf8"), stripped.header]);
  if (content.kind === "memory") return Buffer.concat([head, content.data.subarray(spool.prefixLength + header.length)]);
  const path = await tempPath(await s.shared.spoolDir());
  await pipeline(
    (async function* () {
      yield head;
      yield* spool.readFrom(spool.prefixLength + header.length);
    })(),
    createWriteStream(path, { flags: "wx", mode: 0o600 }),
  );
  return { path, size: (await stat(path)).size };
}

/** The account's Junk mailbox (RFC 6154 \Junk, else one named "Junk", else a new "Junk"). */
async function junkMailbox(store: Store, accountId: Id): Promise<Id> {
  const isJunk = (b: { specialUse: string | null; name: string }) => b.specialUse === "\\Junk" || b.name.toLowerCase() === "junk";
  const boxes = await store.listMailboxes(accountId);
  const found = boxes.find((b) => b.specialUse === "\\Junk") ?? boxes.find(isJunk);
  if (found) return found.id;
  try {
    return (await store.createMailbox(accountId, "Junk", "\\Junk")).id;
  } catch (e) {
    // A concurrent delivery may have created it first.
    const again = (await store.listMailboxes(accountId)).find(isJunk);
    if (again) return again.id;
    throw e;
  }
}
