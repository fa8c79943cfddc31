// WAL checkpoints in a worker thread, so that the event loop never copies pages or waits for the
// fsyncs of a checkpoint (with synchronous = NORMAL a checkpoint fsyncs the WAL before and the
// database after copying; run by SQLite's auto-checkpoint, that is a stall of tens of
// milliseconds on the thread that committed, every thousand pages).
//
// The server's connection turns auto-checkpointing off (wal_autocheckpoint = 0) once the worker
// runs; after commits, requestAfterCommit() asks the worker for a PASSIVE checkpoint (which never
// blocks the writer or readers) at most every INTERVAL_MS, or at once after MAX_COMMITS commits.
// When the WAL has grown past RESET_FRAMES, the committing connection finishes one checkpoint
// itself (see RESET_FRAMES) so that the WAL can start over.
// A PASSIVE checkpoint that cannot finish (a reader holds an old snapshot) is simply repeated
// later; if the worker dies, the connection goes back to auto-checkpointing.
//
// Invariants: at most one checkpoint request in flight; close() ends the worker before the
// database is closed; checkpointing is crash-safe by SQLite's design whichever connection runs it.

import { Worker } from "node:worker_threads";
import { createRequire } from "node:module";
import type { DB } from "./db.js";
import type { AuditLogger } from "../log/audit.js";
import { stopWorker, whenReady } from "./workers.js";

const INTERVAL_MS = 200;
const MAX_COMMITS = 200;
/** WAL frames (about 64 MiB of 4 KiB pages) past which the committing connection finishes a
 * checkpoint itself. Under a steady stream of commits a checkpoint in another connection never
 * catches up with the last frame, and the WAL only starts over (and is cut back to
 * journal_size_limit) after a checkpoint that reached its end; the worker has copied nearly
 * everything by then, so this one is short. */
const RESET_FRAMES = 16_384;

// CommonJS (eval) worker: opens its own connection and checkpoints on request.
const WORKER = `
const { parentPort, workerData } = require("node:worker_threads");
try {
  // Lowest CPU priority for this thread (Linux): checkpoints take the CPU connections leave free.
  const tid = Number(require("node:fs").readlinkSync("/proc/thread-self").split("/").pop());
  if (Number.isInteger(tid) && tid > 0) require("node:os").setPriority(tid, 19);
} catch {}
const Database = require(workerData.module);
const db = new Database(workerData.file);
db.pragma("busy_timeout = 1000");
parentPort.on("message", (m) => {
  if (m === "close") { db.close(); parentPort.close(); return; }
  try {
    const [r] = db.pragma("wal_checkpoint(PASSIVE)");
    parentPort.postMessage({ ok: true, busy: r.busy, log: r.log, checkpointed: r.checkpointed });
  } catch (e) {
    parentPort.postMessage({ ok: false, error: String(e) });
  }
});
parentPort.postMessage({ ready: true });
`;

export class Checkpointer {
  private worker: Worker | null = null;
  private inFlight = false;
  private commits = 0;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private resetDue = false;
  /** Checkpoints done (for tests). */
  done = 0;

  private constructor(
    private readonly db: DB,
    private readonly log: AuditLogger | undefined,
  ) {}

  /** Starts the worker; resolves once it has opened the database (auto-checkpointing is then
   * turned off on `db`). Returns null (auto-checkpointing stays on) when it cannot start. */
  static async start(db: DB, file: string, log?: AuditLogger): Promise<Checkpointer | null> {
    const c = new Checkpointer(db, log);
    const module = createRequire(import.meta.url).resolve("better-sqlite3");
    const worker = new Worker(WORKER, { eval: true, workerData: { file, module } });
    const failed = await whenReady<{ ready?: boolean }>(worker, (m) => m.ready === true);
    if (failed !== null) {
      log?.warn({ err: failed }, "store: checkpoint worker did not start; SQLite checkpoints on commit");
      return null;
    }
    worker.unref();
    worker.on("message", (m: { ok?: boolean; error?: string }) => c.finished(m));
    worker.on("error", (err) => c.lost(err));
    worker.on("exit", (code) => c.lost(`exited with ${code}`));
    c.worker = worker;
    db.pragma("wal_autocheckpoint = 0");
    return c;
  }

  /** Called after each commit. */
  requestAfterCommit(): void {
    if (this.closed || !this.worker) return;
    if (this.resetDue && !this.inFlight) {
      this.resetDue = false;
      try {
        this.db.pragma("wal_checkpoint(PASSIVE)"); // the few frames the worker has not copied yet
      } catch (err) {
        this.log?.warn({ err: String(err) }, "store: checkpoint failed (retried later)");
      }
    }
    this.commits++;
    if (this.inFlight) return;
    if (this.commits >= MAX_COMMITS) return this.send();
    this.timer ??= setTimeout(() => {
      this.timer = null;
      if (!this.inFlight && this.commits > 0) this.send();
    }, INTERVAL_MS);
  }

  private send(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.inFlight = true;
    this.commits = 0;
    this.worker!.postMessage("checkpoint");
  }

  private finished(m: { ok?: boolean; error?: string; log?: number }): void {
    this.inFlight = false;
    if (m.ok) {
      this.done++;
      if ((m.log ?? 0) > RESET_FRAMES) this.resetDue = true;
    } else {
      this.log?.warn({ err: m.error }, "store: background checkpoint failed (retried later)");
    }
    if (this.commits >= MAX_COMMITS) this.send();
  }

  private lost(err: unknown): void {
    if (!this.worker) return; // closed, or already reported
    this.log?.error({ err: String(err) }, "store: checkpoint worker failed; SQLite checkpoints on commit again");
    this.worker = null;
    if (!this.closed) this.db.pragma("wal_autocheckpoint = 1000");
  }

  /** Ends the worker (waiting for a checkpoint in progress). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const w = this.worker;
    this.worker = null;
    if (!w) return;
    await stopWorker(w, "close", 5000); // after the worker has closed its connection
  }
}
