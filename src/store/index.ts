// The store's entry point: opens the embedded SQLite store of a data directory.
//
// `openStore(dataDir)` keeps everything under <dataDir>/store/ (0700): portcullis.db (0600) and
// blobs/ (message bodies, one file each, 0600). See sqlite-store.ts for how it is put together.

import type { AuditLogger } from "../log/audit.js";
import type { Store } from "./types.js";
import { SqliteStore } from "./sqlite-store.js";

export type * from "./types.js";
export { StoreError, DEFAULT_MAILBOXES } from "./types.js";

export async function openStore(dataDir: string, opts?: { log?: AuditLogger }): Promise<Store> {
  return SqliteStore.open(dataDir, opts);
}
