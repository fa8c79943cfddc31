// The store's entry point: opens the embedded SQLite store of a data directory.
//
// `openStore(dataDir)` keeps everything under <dataDir>/store/ (0700): portcullis.db (0600) and
// blobs/ (message bodies too large to be kept in the database, one file each, 0600). See sqlite-store.ts for how it is put together.
//
// Several processes may open the same store (the server, and CLI commands beside it); SQLite
// serialises their writes. Mailbox events reach only subscribers in the process that made the
// change, and only the first opener (owner.pid, lock.ts) cleans up files left by a crash.

import type { AuditLogger } from "../log/audit.js";
import type { Store } from "./types.js";
import { SqliteStore } from "./sqlite-store.js";

export type * from "./types.js";
export { StoreError, DEFAULT_MAILBOXES } from "./types.js";

/** `inlineMax`: the largest body kept in the database rather than in a file (blobs.ts
 * INLINE_MAX by default; 0 puts every body in a file, for tests of file bodies). */
export async function openStore(dataDir: string, opts?: { log?: AuditLogger; inlineMax?: number }): Promise<Store> {
  return SqliteStore.open(dataDir, opts);
}
