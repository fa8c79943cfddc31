// The embedded Store: SQLite for metadata (<dataDir>/store/portcullis.db) and one file per body
// (<dataDir>/store/blobs/). This class only wires the parts together: each method delegates to
// accounts.ts, mailboxes.ts, messages.ts, queue.ts or integrity.ts.
//
// Invariants: every method is async and reports refusals as a rejected StoreError; no method
// touches the database after close(); close() waits for writes in flight to commit; mailbox
// events reach subscribers only after the commit, and a throwing subscriber hurts no one else.

import { promises as fsp } from "node:fs";
import path from "node:path";
import type { Readable } from "node:stream";
import type { AuditLogger } from "../log/audit.js";
import type {
  Account,
  Alias,
  AppendResult,
  Ban,
  CopyResult,
  Credentials,
  Domain,
  FlagOp,
  Id,
  IntegrityReport,
  Mailbox,
  MailboxEvent,
  MailboxSnapshot,
  MailboxStatus,
  MessageMeta,
  NewMessage,
  NewQueuedMessage,
  QueuedMessage,
  SpecialUse,
  Store,
  StoreFlagsResult,
  TextQuery,
} from "./types.js";
import { Blobs, deleteUnreferenced, ensureDir } from "./blobs.js";
import { Committer, WalSync, type Ctx } from "./context.js";
import { Checkpointer } from "./checkpoint.js";
import { openDatabase, Statements } from "./db.js";
import { acquireOwnership, type Ownership } from "./lock.js";
import * as accounts from "./accounts.js";
import * as mailboxes from "./mailboxes.js";
import * as messages from "./messages.js";
import * as queue from "./queue.js";
import * as textindex from "./textindex.js";
import { checkIntegrity } from "./integrity.js";

type Listener = (event: MailboxEvent) => void;

export class SqliteStore implements Store {
  private closed = false;
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly listeners = new Map<Id, Set<Listener>>();
  private readonly ctx: Ctx;
  private indexer: textindex.TextIndexer | null = null;
  private readonly wal: WalSync;
  private checkpointer: Checkpointer | null = null;

  private constructor(
    ctx: Omit<Ctx, "committer">,
    private readonly ownership: Ownership,
    dbFile: string,
  ) {
    this.wal = new WalSync(`${dbFile}-wal`);
    this.ctx = { ...ctx, committer: new Committer(ctx.db, ctx.st, ctx.blobs, (e) => this.emit(e), ctx.log, this.wal) };
  }

  static async open(dataDir: string, opts: { log?: AuditLogger; inlineMax?: number } = {}): Promise<SqliteStore> {
    const storeDir = path.join(path.resolve(dataDir), "store");
    await ensureDir(storeDir);
    const ownership = await acquireOwnership(storeDir);
    try {
      const file = path.join(storeDir, "portcullis.db");
      // Create the file 0600 before SQLite does: its -wal and -shm files copy the database's mode.
      await (await fsp.open(file, "a", 0o600)).close();
      for (const f of [file, `${file}-wal`, `${file}-shm`]) {
        await fsp.chmod(f, 0o600).catch((e: NodeJS.ErrnoException) => {
          if (e.code !== "ENOENT") throw e;
        });
      }
      const db = openDatabase(file);
      let store: SqliteStore | null = null;
      try {
        const blobs = await Blobs.open(path.join(storeDir, "blobs"), { inlineMax: opts.inlineMax });
        store = new SqliteStore({ db, st: new Statements(db), blobs, log: opts.log }, ownership, file);
        const textFile = path.join(storeDir, "text.db");
        await textindex.openTextReader(store.ctx, textFile, file);
        if (ownership.owner) {
          const cp = await Checkpointer.start(db, file, opts.log).catch(() => null);
          store.checkpointer = cp;
          if (cp) store.ctx.committer.onCommitted = () => cp.requestAfterCommit();
          await store.recover();
          // The indexer thread indexes the bodies still listed (a crash, an upgrade) and then each
          // new one; searches scan bodies while it cannot answer.
          const ix = await textindex.TextIndexer.start(store.ctx, { textFile, mainFile: file, blobRoot: blobs.root });
          store.indexer = ix;
          if (ix) store.ctx.indexer = ix;
        }
        return store;
      } catch (e) {
        await store?.indexer?.close();
        await store?.checkpointer?.close();
        store?.ctx.text?.close();
        db.close();
        throw e;
      }
    } catch (e) {
      await ownership.release();
      throw e;
    }
  }

  /** Removes what a crash can leave behind: body files no committed row names, and rows of
   * unreferenced blobs. Runs only in the owning process (lock.ts). */
  private async recover(): Promise<void> {
    const { db, st, blobs, log } = this.ctx;
    const dead = db.transaction(() => deleteUnreferenced(st)).immediate();
    const known = new Set(db.prepare("SELECT name FROM blobs").pluck(true).all() as string[]);
    const removed = await blobs.removeOrphans((n) => known.has(n));
    await blobs.remove(dead);
    if (removed.length + dead.length > 0) {
      log?.warn({ removed: removed.length + dead.length }, "store: removed body files left by an interrupted write");
    }
  }

  private emit(event: MailboxEvent): void {
    const set = this.listeners.get(event.mailboxId);
    if (!set) return;
    for (const l of [...set]) {
      try {
        l(event);
      } catch (err) {
        this.ctx.log?.error({ err: String(err), mailboxId: event.mailboxId }, "store: mailbox subscriber threw");
      }
    }
  }

  /** Runs a method body: refuses after close, and lets close() wait for it. */
  private run<T>(fn: () => T | Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error("store is closed"));
    const p = (async () => fn())();
    this.inflight.add(p);
    const forget = (): void => void this.inflight.delete(p);
    p.then(forget, forget);
    return p;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.inflight]);
    await this.indexer?.close(); // what is still listed is indexed at the next open
    await this.ctx.committer.drain();
    await this.checkpointer?.close();
    await this.wal.close();
    this.ctx.text?.close();
    this.ctx.db.close();
    this.listeners.clear();
    await this.ownership.release();
  }

  // Domains
  addDomain(name: string): Promise<Domain> {
    return this.run(() => accounts.addDomain(this.ctx, name));
  }
  getDomain(name: string): Promise<Domain | null> {
    return this.run(() => accounts.getDomain(this.ctx, name));
  }
  listDomains(): Promise<Domain[]> {
    return this.run(() => accounts.listDomains(this.ctx));
  }
  deleteDomain(name: string): Promise<void> {
    return this.run(() => accounts.deleteDomain(this.ctx, name));
  }
  setCatchAll(domain: string, address: string | null): Promise<void> {
    return this.run(() => accounts.setCatchAll(this.ctx, domain, address));
  }

  // Accounts
  createAccount(address: string, opts?: { credentials?: Credentials; quotaBytes?: number | null }): Promise<Account> {
    return this.run(() => accounts.createAccount(this.ctx, address, opts));
  }
  getAccount(address: string): Promise<Account | null> {
    return this.run(() => accounts.getAccount(this.ctx, address));
  }
  getAccountById(id: Id): Promise<Account | null> {
    return this.run(() => accounts.getAccountById(this.ctx, id));
  }
  listAccounts(domain?: string): Promise<Account[]> {
    return this.run(() => accounts.listAccounts(this.ctx, domain));
  }
  deleteAccount(address: string): Promise<void> {
    return this.run(() => accounts.deleteAccount(this.ctx, address));
  }
  setCredentials(accountId: Id, credentials: Credentials): Promise<void> {
    return this.run(() => accounts.setCredentials(this.ctx, accountId, credentials));
  }
  setQuota(accountId: Id, quotaBytes: number | null): Promise<void> {
    return this.run(() => accounts.setQuota(this.ctx, accountId, quotaBytes));
  }
  quotaUsage(accountId: Id): Promise<number> {
    return this.run(() => accounts.quotaUsage(this.ctx, accountId));
  }

  // Aliases
  addAlias(address: string, targets: string[]): Promise<Alias> {
    return this.run(() => accounts.addAlias(this.ctx, address, targets));
  }
  getAlias(address: string): Promise<Alias | null> {
    return this.run(() => accounts.getAlias(this.ctx, address));
  }
  listAliases(domain?: string): Promise<Alias[]> {
    return this.run(() => accounts.listAliases(this.ctx, domain));
  }
  deleteAlias(address: string): Promise<void> {
    return this.run(() => accounts.deleteAlias(this.ctx, address));
  }

  // Mailboxes
  listMailboxes(accountId: Id): Promise<Mailbox[]> {
    return this.run(() => mailboxes.listMailboxes(this.ctx, accountId));
  }
  getMailbox(accountId: Id, name: string): Promise<Mailbox | null> {
    return this.run(() => mailboxes.getMailbox(this.ctx, accountId, name));
  }
  getMailboxById(id: Id): Promise<Mailbox | null> {
    return this.run(() => mailboxes.getMailboxById(this.ctx, id));
  }
  createMailbox(accountId: Id, name: string, specialUse?: SpecialUse | null): Promise<Mailbox> {
    return this.run(() => mailboxes.createMailbox(this.ctx, accountId, name, specialUse ?? null));
  }
  deleteMailbox(mailboxId: Id): Promise<void> {
    return this.run(() => mailboxes.deleteMailbox(this.ctx, mailboxId));
  }
  renameMailbox(mailboxId: Id, newName: string): Promise<void> {
    return this.run(() => mailboxes.renameMailbox(this.ctx, mailboxId, newName));
  }
  setSubscribed(mailboxId: Id, subscribed: boolean): Promise<void> {
    return this.run(() => mailboxes.setSubscribed(this.ctx, mailboxId, subscribed));
  }
  mailboxStatus(mailboxId: Id): Promise<MailboxStatus> {
    return this.run(() => mailboxes.mailboxStatus(this.ctx, mailboxId));
  }

  // Messages
  async appendMessage(mailboxId: Id, message: NewMessage): Promise<AppendResult> {
    const [r] = await this.run(() => messages.deliver(this.ctx, [mailboxId], message));
    return r!;
  }
  deliver(mailboxIds: Id[], message: NewMessage): Promise<AppendResult[]> {
    return this.run(() => messages.deliver(this.ctx, mailboxIds, message));
  }
  listMessages(mailboxId: Id): Promise<MessageMeta[]> {
    return this.run(() => messages.listMessages(this.ctx, mailboxId));
  }
  listSummaries(mailboxId: Id): Promise<MailboxSnapshot> {
    return this.run(() => messages.listSummaries(this.ctx, mailboxId));
  }
  getMessages(mailboxId: Id, uids: number[]): Promise<MessageMeta[]> {
    return this.run(() => messages.getMessages(this.ctx, mailboxId, uids));
  }
  openBody(messageId: Id, range?: { start: number; end?: number }): Promise<Readable> {
    return this.run(() => messages.openBody(this.ctx, messageId, range));
  }
  readBody(messageId: Id): Promise<Buffer> {
    return this.run(() => messages.readBody(this.ctx, messageId));
  }
  storeFlags(mailboxId: Id, uids: number[], op: FlagOp, flags: string[], unchangedSince?: number): Promise<StoreFlagsResult> {
    return this.run(() => messages.storeFlags(this.ctx, mailboxId, uids, op, flags, unchangedSince));
  }
  expunge(mailboxId: Id, uids?: number[]): Promise<number[]> {
    return this.run(() => messages.expunge(this.ctx, mailboxId, uids));
  }
  copyMessages(fromMailboxId: Id, uids: number[], toMailboxId: Id): Promise<CopyResult> {
    return this.run(() => messages.copyMessages(this.ctx, fromMailboxId, uids, toMailboxId));
  }
  moveMessages(fromMailboxId: Id, uids: number[], toMailboxId: Id): Promise<CopyResult> {
    return this.run(() => messages.moveMessages(this.ctx, fromMailboxId, uids, toMailboxId));
  }
  changesSince(mailboxId: Id, since: number): Promise<{ changed: MessageMeta[]; vanished: number[] }> {
    return this.run(() => messages.changesSince(this.ctx, mailboxId, since));
  }
  searchText(mailboxId: Id, query: TextQuery): Promise<Set<number> | null> {
    return this.run(async () => {
      // Every message delivered so far is searchable once the indexer has caught up; with a large
      // backlog (just upgraded) the search scans instead of waiting.
      if (this.indexer && textindex.backlogIsSmall(this.ctx)) await this.indexer.drain();
      return textindex.searchText(this.ctx, mailboxId, query);
    });
  }
  subscribe(mailboxId: Id, listener: Listener): () => void {
    let set = this.listeners.get(mailboxId);
    if (!set) this.listeners.set(mailboxId, (set = new Set()));
    // Wrap so that subscribing the same function twice gives two independent subscriptions.
    const entry: Listener = (e) => listener(e);
    set.add(entry);
    return () => {
      const s = this.listeners.get(mailboxId);
      s?.delete(entry);
      if (s && s.size === 0) this.listeners.delete(mailboxId);
    };
  }

  // Bans
  putBan(ban: Ban): Promise<void> {
    return this.run(() => queue.putBan(this.ctx, ban));
  }
  getBans(): Promise<Ban[]> {
    return this.run(() => queue.getBans(this.ctx));
  }
  deleteBan(subject: string): Promise<boolean> {
    return this.run(() => queue.deleteBan(this.ctx, subject));
  }

  // Outbound queue
  enqueue(message: NewQueuedMessage): Promise<QueuedMessage> {
    return this.run(() => queue.enqueue(this.ctx, message));
  }
  getQueued(id: string): Promise<QueuedMessage | null> {
    return this.run(() => queue.getQueued(this.ctx, id));
  }
  listQueue(): Promise<QueuedMessage[]> {
    return this.run(() => queue.listQueue(this.ctx));
  }
  dueQueue(now: Date, limit: number): Promise<QueuedMessage[]> {
    return this.run(() => queue.dueQueue(this.ctx, now, limit));
  }
  updateQueued(
    id: string,
    update: Partial<Pick<QueuedMessage, "recipients" | "nextAttemptAt" | "attempts" | "lastError" | "delayNoticeSent" | "meta">>,
  ): Promise<void> {
    return this.run(() => queue.updateQueued(this.ctx, id, update));
  }
  openQueuedBody(id: string): Promise<Readable> {
    return this.run(() => queue.openQueuedBody(this.ctx, id));
  }
  deleteQueued(id: string): Promise<void> {
    return this.run(() => queue.deleteQueued(this.ctx, id));
  }

  checkIntegrity(): Promise<IntegrityReport> {
    return this.run(() => checkIntegrity(this.ctx));
  }
}
