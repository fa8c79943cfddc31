// What every part of the SQLite store shares, and the one way writes reach the database.
//
// All writes go through Committer.submit(): the writes submitted while the event loop is busy are
// committed together in ONE transaction (group commit), each inside its own savepoint so that one
// failing write (over quota, not found) rolls back alone.
//
// Durability without blocking: SQLite commits without fsync (synchronous = NORMAL, db.ts), and
// the committer then fsyncs the WAL file in the thread pool (WalSync) before it settles the
// batch's promises. A WAL frame that is on disk with its commit frame is a committed transaction
// after any crash (SQLite replays the WAL at open), so a write acknowledged after that fsync is
// exactly as durable as with synchronous = FULL — but the event loop never waits for the disk,
// and batches committed while an fsync is running share the next one.
// Invariants:
// - a write's promise settles only after the transaction holding it has committed and the WAL
//   holding that commit has been fsynced (or either failed);
// - mailbox events are emitted and unreferenced body files unlinked only after that commit;
// - a body file written for a write that did not commit is unlinked (its `onFail`).

import { promises as fsp } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import type { AuditLogger } from "../log/audit.js";
import { CoalescedSync, deleteUnreferenced, type Blobs } from "./blobs.js";
import type { DB, Statements } from "./db.js";
import type { MailboxEvent } from "./types.js";

/** Effects of a write that happen after its commit. */
export interface Tx {
  events: MailboxEvent[];
}

interface Item {
  run: (tx: Tx) => unknown;
  onFail: (() => Promise<void>) | undefined;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

export class Committer {
  private queue: Item[] = [];
  private scheduled = false;
  private idle: Promise<void> = Promise.resolve();
  private markIdle: (() => void) | null = null;
  /** Post-commit work (unlinks, events, settling promises) runs in commit order, one batch at a time. */
  private post: Promise<void> = Promise.resolve();
  /** Called after each successful commit (the background checkpointer, checkpoint.ts). */
  onCommitted: (() => void) | null = null;

  constructor(
    private readonly db: DB,
    private readonly st: Statements,
    private readonly blobs: Blobs,
    private readonly emit: (e: MailboxEvent) => void,
    private readonly log: AuditLogger | undefined,
    private readonly wal: WalSync,
  ) {}

  submit<T>(run: (tx: Tx) => T, onFail?: () => Promise<void>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ run, onFail, resolve: resolve as (v: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        this.idle = new Promise((r) => (this.markIdle = r));
        setImmediate(() => this.flush());
      }
    });
  }

  /** Resolves once everything submitted so far has been committed and its post-commit work done. */
  async drain(): Promise<void> {
    while (this.scheduled) await this.idle;
    await this.post;
  }

  private flush(): void {
    const batch = this.queue;
    this.queue = [];
    const outcomes: Array<{ ok: true; value: unknown; tx: Tx } | { ok: false; error: unknown }> = [];
    let freed: string[] = [];
    let fatal: unknown = null;
    try {
      this.db
        .transaction(() => {
          for (const item of batch) {
            const tx: Tx = { events: [] };
            try {
              // A nested better-sqlite3 transaction is a SAVEPOINT: a throw rolls back this item only.
              const value = this.db.transaction(() => item.run(tx))();
              outcomes.push({ ok: true, value, tx });
            } catch (error) {
              outcomes.push({ ok: false, error });
            }
          }
          freed = deleteUnreferenced(this.st);
        })
        .immediate();
    } catch (error) {
      fatal = error;
    }
    // Let writes submitted during this flush form the next batch.
    this.scheduled = false;
    const wake = this.markIdle;
    if (this.queue.length > 0) {
      this.scheduled = true;
      this.idle = new Promise((r) => (this.markIdle = r));
      setImmediate(() => this.flush());
    }
    wake?.();
    if (fatal === null) this.onCommitted?.();
    // Started now (or joined, when one is running and the next is already due), awaited in order.
    const synced: Promise<unknown> = fatal === null ? this.wal.sync().then(() => null, (e: unknown) => e) : Promise.resolve(null);
    this.post = this.post.then(async () => {
      const syncError = await synced;
      if (syncError !== null) {
        // Committed but not known to be on disk: refuse rather than acknowledge (the client
        // retries). Nothing is undone — the rows are committed and name their body files — and
        // no file is unlinked (the deletion may not survive a crash).
        this.log?.error({ err: String(syncError) }, "store: fsync of the WAL failed");
        for (const item of batch) item.reject(syncError);
        return;
      }
      return this.afterCommit(batch, outcomes, freed, fatal);
    });
  }

  private async afterCommit(
    batch: Item[],
    outcomes: Array<{ ok: true; value: unknown; tx: Tx } | { ok: false; error: unknown }>,
    freed: string[],
    fatal: unknown,
  ): Promise<void> {
    if (fatal !== null) {
      this.log?.error({ err: String(fatal) }, "store: transaction failed");
      for (const item of batch) {
        await item.onFail?.().catch(() => undefined);
        item.reject(fatal);
      }
      return;
    }
    await this.blobs.remove(freed).catch(() => undefined); // a left-over file is reported by checkIntegrity
    for (let i = 0; i < batch.length; i++) {
      const item = batch[i]!;
      const out = outcomes[i]!;
      if (out.ok) {
        for (const e of out.tx.events) this.emit(e);
        item.resolve(out.value);
      } else {
        await item.onFail?.().catch(() => undefined);
        item.reject(out.error);
      }
    }
  }
}

/** fsyncs the database's WAL file through one long-lived handle, coalesced (blobs.ts
 * CoalescedSync): sync() resolves after an fsync that STARTED after the call, so it covers every
 * commit made before the call; callers arriving while one runs share the next one. */
export class WalSync {
  private handle: Promise<FileHandle> | null = null;
  private readonly coalesced = new CoalescedSync(async () => {
    this.handle ??= fsp.open(this.file, "r");
    const fh = await this.handle.catch((e: unknown) => {
      this.handle = null;
      throw e;
    });
    await fh.sync();
  });

  constructor(private readonly file: string) {}

  sync(): Promise<void> {
    return this.coalesced.run();
  }

  async close(): Promise<void> {
    await this.coalesced.settled();
    const h = this.handle;
    this.handle = null;
    if (h) await (await h.catch(() => null))?.close().catch(() => undefined);
  }
}

export interface Ctx {
  db: DB;
  st: Statements;
  blobs: Blobs;
  committer: Committer;
  log: AuditLogger | undefined;
  /** The reading connection to the search index (text.db, with portcullis.db attached as `m`). */
  text?: DB;
  /** Has new bodies' text indexed soon (textindex.ts); absent without an indexer thread. */
  indexer?: { kick(): void };
}
