// The Store interface: everything Portcullis keeps between restarts.
//
// Protocol code (SMTP, IMAP, POP3, queue) talks only to this interface, never to SQLite or the
// filesystem, so that a PostgreSQL implementation can be added without touching protocols.
// Every method is async for that reason, even where the embedded SQLite backend is synchronous.
//
// Invariants every implementation keeps:
// - Durability: a method that stores a message (appendMessage, deliver, enqueue) resolves only
//   after the body and its metadata are durable (file + directory fsynced, transaction committed).
//   A crash at any moment leaves either the whole message visible or nothing of it.
// - UIDs in a mailbox are strictly ascending and never reused (RFC 9051 §2.3.1.1); UIDVALIDITY of
//   a mailbox never changes while the mailbox exists, and a re-created name gets a new one.
// - Every change to a message (append, flags, expunge) takes a new MODSEQ from the mailbox's
//   counter (RFC 7162 §3.1), so HIGHESTMODSEQ strictly increases with each change.
// - Addresses and domain names are stored lower-cased (the local part too: Portcullis treats
//   local parts case-insensitively, as nearly every mail server does).

import type { Readable } from "node:stream";

export type Id = number;

export interface Domain {
  id: Id;
  name: string; // lower-case, no trailing dot
  catchAll: string | null; // address of a local user receiving unknown recipients, or null (default)
  createdAt: Date;
}

/** SCRAM-SHA-256 verifier, RFC 5802 §3 / RFC 7677. Keys are raw bytes. */
export interface ScramCredentials {
  salt: Buffer;
  iterations: number;
  storedKey: Buffer;
  serverKey: Buffer;
}

export interface Credentials {
  /** argon2id PHC string, e.g. "$argon2id$v=19$m=19456,t=2,p=1$..." */
  passwordHash: string;
  scram: ScramCredentials;
}

export interface Account {
  id: Id;
  address: string; // local@domain, lower-case
  domainId: Id;
  credentials: Credentials | null; // null: no password set, login impossible
  quotaBytes: number | null; // null: no quota
  disabled: boolean;
  createdAt: Date;
}

export interface Alias {
  address: string; // the alias, lower-case
  targets: string[]; // addresses of local accounts
}

/** RFC 6154 special-use attributes. */
export type SpecialUse = "\\Sent" | "\\Drafts" | "\\Trash" | "\\Junk" | "\\Archive" | "\\All" | "\\Flagged";

/** The mailboxes every new account gets (RFC 6154), in this order. */
export const DEFAULT_MAILBOXES: ReadonlyArray<{ name: string; specialUse: SpecialUse | null }> = [
  { name: "INBOX", specialUse: null },
  { name: "Sent", specialUse: "\\Sent" },
  { name: "Drafts", specialUse: "\\Drafts" },
  { name: "Trash", specialUse: "\\Trash" },
  { name: "Junk", specialUse: "\\Junk" },
  { name: "Archive", specialUse: "\\Archive" },
];

export interface Mailbox {
  id: Id;
  accountId: Id;
  /** Full name in UTF-8 with "/" as hierarchy separator; "INBOX" is always spelled so. */
  name: string;
  specialUse: SpecialUse | null;
  subscribed: boolean;
  uidValidity: number; // 32-bit unsigned, non-zero
  uidNext: number; // the UID the next message will get
  highestModseq: number; // last MODSEQ assigned in this mailbox (0 if none)
}

export interface MailboxStatus {
  messages: number;
  unseen: number; // messages without \Seen
  deleted: number; // messages with \Deleted
  uidNext: number;
  uidValidity: number;
  highestModseq: number;
  size: number; // sum of RFC822.SIZE, for STATUS=SIZE (RFC 8438)
}

/** Per-message metadata in one mailbox. `flags` holds system flags ("\\Seen") and keywords. */
export interface MessageMeta {
  id: Id; // store-wide id of this mailbox entry
  mailboxId: Id;
  uid: number;
  modseq: number;
  flags: string[];
  internalDate: Date;
  size: number; // exact octets of the stored body (CRLF line ends)
  /** Opaque JSON value the protocol layer attached at append time (e.g. IMAP's parsed
   * ENVELOPE/BODYSTRUCTURE), or null. The store keeps it verbatim. */
  parsed: unknown;
}

/** MessageMeta without the stored structure: what listing a mailbox needs (SELECT, POP3, the
 * non-header keys of SEARCH). `flags` arrays may be shared between entries: never mutate them. */
export type MessageSummary = Omit<MessageMeta, "parsed">;

/** A mailbox and its messages (ascending UID) as of one moment: `mailbox.highestModseq` is the
 * MODSEQ of exactly the listed state. */
export interface MailboxSnapshot {
  mailbox: Mailbox;
  messages: MessageSummary[];
}

export interface NewMessage {
  /** The full message in wire form (CRLF line ends). A Buffer, or a file the store may take over
   * (it is renamed into the store, or copied if on another filesystem). */
  body: Buffer | { path: string; size: number };
  flags?: string[];
  internalDate?: Date;
  parsed?: unknown;
}

export interface AppendResult {
  mailboxId: Id;
  uidValidity: number;
  uid: number;
  modseq: number;
  id: Id;
}

export type FlagOp = "set" | "add" | "remove";

export interface FlagChange {
  uid: number;
  modseq: number;
  flags: string[];
}

export interface StoreFlagsResult {
  changed: FlagChange[];
  /** UIDs not changed because their MODSEQ was above UNCHANGEDSINCE (RFC 7162 §3.1.3). */
  modified: number[];
}

export interface CopyResult {
  uidValidity: number; // of the destination
  /** Pairs in source-UID order: [sourceUid, destinationUid] (RFC 4315 COPYUID). */
  mapping: Array<[number, number]>;
}

/** An event about a mailbox, delivered to subscribers in the same process (IMAP IDLE etc.). */
export type MailboxEvent =
  | { kind: "exists"; mailboxId: Id; uid: number; modseq: number }
  | { kind: "flags"; mailboxId: Id; changes: FlagChange[] }
  | { kind: "expunge"; mailboxId: Id; uids: number[]; modseq: number }
  | { kind: "deleted"; mailboxId: Id };

export interface Ban {
  /** An IP address or CIDR network ("192.0.2.7", "2001:db8::/64"). */
  subject: string;
  reason: string;
  createdAt: Date;
  expiresAt: Date | null; // null: permanent
  offences: number; // how many times this subject has been banned (for growing ban periods)
}

export interface QueueRecipient {
  address: string;
  status: "pending" | "delivered" | "failed";
  lastReply: string | null;
}

export interface QueuedMessage {
  id: string; // queue id
  sender: string; // envelope sender ("" for the null sender)
  recipients: QueueRecipient[];
  domain: string; // destination domain (one queue entry per destination domain)
  size: number;
  createdAt: Date;
  nextAttemptAt: Date;
  attempts: number;
  lastError: string | null;
  delayNoticeSent: boolean;
  /** Free-form JSON the queue keeps with the message (DSN options, submitting account, ...). */
  meta: unknown;
}

export interface NewQueuedMessage {
  sender: string;
  recipients: string[];
  domain: string;
  body: Buffer | { path: string; size: number };
  meta?: unknown;
}

export interface IntegrityReport {
  ok: boolean;
  problems: string[]; // human-readable, one per problem found
  messages: number;
  blobs: number;
}

/** Needles for Store.searchText: every one must match as a case-insensitive substring (AND).
 * `body`: in the decoded text parts (IMAP BODY); `text`: in the header or the body (IMAP TEXT). */
export interface TextQuery {
  body?: string[];
  text?: string[];
}

export interface Store {
  /** Releases the database and file handles. Pending writes finish first. */
  close(): Promise<void>;

  // Domains
  addDomain(name: string): Promise<Domain>;
  getDomain(name: string): Promise<Domain | null>;
  listDomains(): Promise<Domain[]>;
  /** Refuses (throws) while accounts or aliases of the domain exist. */
  deleteDomain(name: string): Promise<void>;
  setCatchAll(domain: string, address: string | null): Promise<void>;

  // Accounts. createAccount also creates DEFAULT_MAILBOXES.
  createAccount(address: string, opts?: { credentials?: Credentials; quotaBytes?: number | null }): Promise<Account>;
  getAccount(address: string): Promise<Account | null>;
  getAccountById(id: Id): Promise<Account | null>;
  listAccounts(domain?: string): Promise<Account[]>;
  /** Deletes the account, its mailboxes and messages (message files too). */
  deleteAccount(address: string): Promise<void>;
  setCredentials(accountId: Id, credentials: Credentials): Promise<void>;
  setQuota(accountId: Id, quotaBytes: number | null): Promise<void>;
  /** Bytes used by all messages of the account (RFC 9208 STORAGE). */
  quotaUsage(accountId: Id): Promise<number>;

  // Aliases: one alias address maps to one or more local accounts.
  addAlias(address: string, targets: string[]): Promise<Alias>;
  getAlias(address: string): Promise<Alias | null>;
  listAliases(domain?: string): Promise<Alias[]>;
  deleteAlias(address: string): Promise<void>;

  // Mailboxes
  listMailboxes(accountId: Id): Promise<Mailbox[]>;
  getMailbox(accountId: Id, name: string): Promise<Mailbox | null>;
  getMailboxById(id: Id): Promise<Mailbox | null>;
  createMailbox(accountId: Id, name: string, specialUse?: SpecialUse | null): Promise<Mailbox>;
  /** Deletes the mailbox and its messages. */
  deleteMailbox(mailboxId: Id): Promise<void>;
  /** Renames the mailbox and its children ("a" -> "b" also moves "a/x" to "b/x"). */
  renameMailbox(mailboxId: Id, newName: string): Promise<void>;
  setSubscribed(mailboxId: Id, subscribed: boolean): Promise<void>;
  mailboxStatus(mailboxId: Id): Promise<MailboxStatus>;

  // Messages
  appendMessage(mailboxId: Id, message: NewMessage): Promise<AppendResult>;
  /** Stores one message in several mailboxes atomically (SMTP delivery to several local users):
   * all entries become visible together, after the body is durable. */
  deliver(mailboxIds: Id[], message: NewMessage): Promise<AppendResult[]>;
  /** All messages of a mailbox in ascending UID order. Must stay O(n) with small constants. */
  listMessages(mailboxId: Id): Promise<MessageMeta[]>;
  /** Like listMessages without the stored structures, together with the mailbox row read at the
   * same moment (so a cache of the listing can be checked against mailbox.highestModseq). */
  listSummaries(mailboxId: Id): Promise<MailboxSnapshot>;
  /** Messages with the given UIDs (missing ones are skipped), ascending. */
  getMessages(mailboxId: Id, uids: number[]): Promise<MessageMeta[]>;
  /** The message body in wire form; `start`/`end` (inclusive, bytes) select a range. */
  openBody(messageId: Id, range?: { start: number; end?: number }): Promise<Readable>;
  readBody(messageId: Id): Promise<Buffer>;
  storeFlags(mailboxId: Id, uids: number[], op: FlagOp, flags: string[], unchangedSince?: number): Promise<StoreFlagsResult>;
  /** Removes the given UIDs, or (without uids) every message flagged \Deleted. Returns removed UIDs. */
  expunge(mailboxId: Id, uids?: number[]): Promise<number[]>;
  copyMessages(fromMailboxId: Id, uids: number[], toMailboxId: Id): Promise<CopyResult>;
  /** Copy then expunge from the source, atomically (RFC 6851). */
  moveMessages(fromMailboxId: Id, uids: number[], toMailboxId: Id): Promise<CopyResult>;
  /** For QRESYNC (RFC 7162 §3.2.5): flag changes with MODSEQ > since, and UIDs expunged since. */
  changesSince(mailboxId: Id, since: number): Promise<{ changed: MessageMeta[]; vanished: number[] }>;
  /** RFC 9051 §6.4.4 BODY/TEXT through a full-text index: UIDs of the mailbox's messages matching
   * every needle, or null when the index cannot answer (a needle shorter than 3 characters, index
   * not built yet): the caller then reads the bodies. Optional: a store without an index omits it. */
  searchText?(mailboxId: Id, query: TextQuery): Promise<Set<number> | null>;
  /** In-process notification of changes to a mailbox. Returns an unsubscribe function. */
  subscribe(mailboxId: Id, listener: (event: MailboxEvent) => void): () => void;

  // Security state: bans persist across restarts.
  putBan(ban: Ban): Promise<void>;
  getBans(): Promise<Ban[]>;
  deleteBan(subject: string): Promise<boolean>;

  // Outbound queue (used by the outbound delivery issue).
  enqueue(message: NewQueuedMessage): Promise<QueuedMessage>;
  getQueued(id: string): Promise<QueuedMessage | null>;
  listQueue(): Promise<QueuedMessage[]>;
  /** Messages whose nextAttemptAt <= now, oldest first. */
  dueQueue(now: Date, limit: number): Promise<QueuedMessage[]>;
  updateQueued(id: string, update: Partial<Pick<QueuedMessage, "recipients" | "nextAttemptAt" | "attempts" | "lastError" | "delayNoticeSent" | "meta">>): Promise<void>;
  openQueuedBody(id: string): Promise<Readable>;
  deleteQueued(id: string): Promise<void>;

  /** Verifies that metadata and body files agree (`portcullis check --store`). */
  checkIntegrity(): Promise<IntegrityReport>;
}

/** A store-level refusal that protocols turn into their own reply (e.g. IMAP NO [OVERQUOTA]). */
export class StoreError extends Error {
  constructor(
    readonly code: "exists" | "not-found" | "over-quota" | "invalid" | "in-use",
    message: string,
  ) {
    super(message);
    this.name = "StoreError";
  }
}
