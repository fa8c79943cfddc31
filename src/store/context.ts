// What every part of the SQLite store shares, and the one way writes reach the database.
//
// All writes go through Committer.submit(): the writes submitted while the event loop is busy are
// committed together in ONE transaction (group commit, one WAL fsync for many appends), each
// inside its own savepoint so that one failing write (over quota, not found) rolls back alone.
// Invariants:
// - a write's promise settles only after the transaction holding it has committed (or failed);
// - mailbox events are emitted and unreferenced body files unlinked only after that commit;
// - a body file written for a write that did not commit is unlinked (its `onFail`).

import type { AuditLogger } from "../log/audit.js";
import type { Blobs } from "./blobs.js";
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

  constructor(
    private readonly db: DB,
    private readonly st: Statements,
    private readonly blobs: Blobs,
    private readonly emit: (e: MailboxEvent) => void,
    private readonly log: AuditLogger | undefined,
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
          const rows = this.st.get("SELECT name FROM blobs WHERE refs <= 0").all() as Array<{ name: string }>;
          if (rows.length > 0) this.st.get("DELETE FROM blobs WHERE refs <= 0").run();
          freed = rows.map((r) => r.name);
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
    this.post = this.post.then(() => this.afterCommit(batch, outcomes, freed, fatal));
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

export interface Ctx {
  db: DB;
  st: Statements;
  blobs: Blobs;
  committer: Committer;
  log: AuditLogger | undefined;
  /** Indexes new bodies' text in batches (textindex.ts); absent in bare test contexts. */
  indexer?: { kick(blobId?: number, body?: Buffer): void };
}
