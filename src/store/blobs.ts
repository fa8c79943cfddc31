// Message body files ("blobs") and how they are written durably.
//
// Layout: <store>/blobs/<2 hex>/<24 hex> (256 fan-out directories, created at open) and
// <store>/blobs/tmp/ for files being written. Directories are 0700, files 0600. A name's first two
// hex digits are its directory, taken from the clock (seconds mod 256) so that bodies written at
// the same time share a directory and one directory fsync (coalesced, see DirSync) covers them
// all; over time the files still spread evenly over the 256 directories.
//
// Small bodies given as a buffer (up to INLINE_MAX) get no file at all: they are stored in the
// database (table blob_data) in the transaction of their blob row (insertBlobRow), so they are
// exactly as durable as the row.
//
// Invariant (with the commit order in sqlite-store.ts): a body file is written (a buffer: in place
// under its new unique name; a caller's file: renamed into its fan-out directory), fsynced, and
// that directory fsynced BEFORE the database row naming it is committed. So a committed row always
// has its whole file; a crash can only leave files no row names (in tmp/ or in a fan-out
// directory), which removeOrphans() deletes at open.
// Files are unlinked only after the transaction deleting their last reference has committed.

import { promises as fsp, constants as fsc, createReadStream } from "node:fs";
import { Readable } from "node:stream";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { StoreError } from "./types.js";
import type { Statements } from "./db.js";

const NAME = /^[0-9a-f]{24}$/;

export interface StoredBlob {
  name: string;
  size: number;
  /** The body itself when it is small enough to live in the database (no file was written):
   * the caller stores it with insertBlobRow() in the transaction of the blob row. */
  inline?: Buffer;
  /** Undoes write() when the row naming the blob did not commit: a file taken over from the
   * caller is renamed back to where it was; a file the store wrote is deleted. Best effort. */
  undo(): Promise<void>;
}

export type BlobSource = Buffer | { path: string; size: number };

/** Bodies up to this size given as a buffer are stored in the database (table blob_data), not
 * in a file: most mail is small, and a file costs an inode allocation, a file fsync and a
 * directory fsync where a row costs a share of one group commit. */
export const INLINE_MAX = 128 * 1024;

export class Blobs {
  readonly tmp: string;
  private readonly dirSync = new DirSync();

  private constructor(
    readonly root: string,
    /** Largest buffer body stored inline; 0 stores every body in a file (tests of file bodies). */
    readonly inlineMax: number,
  ) {
    this.tmp = path.join(root, "tmp");
  }

  /** Creates the directory tree (0700) if needed and makes it durable. */
  static async open(root: string, o: { inlineMax?: number } = {}): Promise<Blobs> {
    const b = new Blobs(root, o.inlineMax ?? INLINE_MAX);
    await ensureDir(root);
    const fans: Promise<void>[] = [];
    for (let i = 0; i < 256; i++) fans.push(ensureDir(path.join(root, i.toString(16).padStart(2, "0"))));
    fans.push(ensureDir(b.tmp));
    await Promise.all(fans);
    await fsyncDir(root);
    await fsyncDir(path.dirname(root));
    return b;
  }

  pathOf(name: string): string {
    if (!NAME.test(name)) throw new Error(`bad blob name ${JSON.stringify(name)}`);
    return path.join(this.root, name.slice(0, 2), name);
  }

  /** Writes a body durably (see the invariant above) and returns its name and exact size. */
  async write(source: BlobSource): Promise<StoredBlob> {
    const fan = (Math.floor(Date.now() / 1000) & 0xff).toString(16).padStart(2, "0");
    const name = fan + randomBytes(11).toString("hex");
    const final = this.pathOf(name);
    if (Buffer.isBuffer(source) && source.length <= this.inlineMax) {
      return { name, size: source.length, inline: source, undo: async () => undefined };
    }
    if (Buffer.isBuffer(source)) {
      // Written in place (a new, unique name no row names yet): a crash leaves at most an orphan
      // file, removed at open like any other; no temp file and rename to pay for.
      await writeFileDurably(final, source);
      try {
        await this.dirSync.sync(path.dirname(final));
      } catch (e) {
        await fsp.unlink(final).catch(() => undefined);
        throw e;
      }
      return { name, size: source.length, undo: () => this.remove([name]) };
    }
    const st = await fsp.stat(source.path).catch(() => null);
    if (!st || !st.isFile()) throw new StoreError("invalid", `message file ${source.path} does not exist`);
    if (st.size !== source.size) {
      throw new StoreError("invalid", `message file ${source.path} has ${st.size} bytes, not ${source.size}`);
    }
    let taken = false;
    try {
      await fsp.rename(source.path, final); // take the file over (same filesystem)
      taken = true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EXDEV") throw e;
      // Another filesystem: copy, and leave the caller's file where it is (the caller removes it).
      const tmp = path.join(this.tmp, name);
      await fsp.copyFile(source.path, tmp, fsc.COPYFILE_EXCL);
      await fsp.rename(tmp, final);
    }
    try {
      await fsp.chmod(final, 0o600);
      const fh = await fsp.open(final, "r");
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      await this.dirSync.sync(path.dirname(final));
    } catch (e) {
      if (taken) await fsp.rename(final, source.path).catch(() => fsp.unlink(final).catch(() => undefined));
      else await fsp.unlink(final).catch(() => undefined);
      throw e;
    }
    const undo = taken
      ? () => fsp.rename(final, source.path).catch(() => this.remove([name]))
      : () => this.remove([name]);
    return { name, size: st.size, undo };
  }

  /** Unlinks files whose last reference is gone (called after the commit). Missing files are fine. */
  async remove(names: readonly string[]): Promise<void> {
    await Promise.all(names.map((n) => fsp.unlink(this.pathOf(n)).catch(() => undefined)));
  }

  /** Every entry in the fan-out directories, as "<2 hex>/<name>" relative to the blob root. */
  async scan(): Promise<string[]> {
    const found: string[] = [];
    for (let i = 0; i < 256; i++) {
      const fan = i.toString(16).padStart(2, "0");
      const entries = await fsp.readdir(path.join(this.root, fan)).catch(() => [] as string[]);
      for (const e of entries) found.push(`${fan}/${e}`);
    }
    return found;
  }

  /** The relative path ("<2 hex>/<name>") a blob of this name must have. */
  relativePath(name: string): string {
    return `${name.slice(0, 2)}/${name}`;
  }

  /** Deletes files no row names (left by a crash between rename and commit) and everything in tmp/.
   * Only safe while no other writer uses this directory (see lock.ts). Returns what was removed. */
  async removeOrphans(known: (name: string) => boolean): Promise<string[]> {
    const removed: string[] = [];
    for (const e of await fsp.readdir(this.tmp)) {
      await fsp.rm(path.join(this.tmp, e), { force: true, recursive: true });
      removed.push(`tmp/${e}`);
    }
    for (const rel of await this.scan()) {
      const name = rel.slice(3);
      if (!(NAME.test(name) && rel === this.relativePath(name) && known(name))) {
        await fsp.rm(path.join(this.root, rel), { force: true, recursive: true });
        removed.push(rel);
      }
    }
    return removed;
  }
}

/** Inside a write transaction: the row of a blob just written (and its data, when inline).
 * Returns the blob id. */
export function insertBlobRow(st: Statements, blob: StoredBlob): number {
  const id = Number(st.get("INSERT INTO blobs (name, size) VALUES (?, ?)").run(blob.name, blob.size).lastInsertRowid);
  if (blob.inline) st.get("INSERT INTO blob_data (blob_id, data) VALUES (?, ?)").run(id, blob.inline);
  return id;
}

/** Where a stored body is: its bytes (inline), or its file. */
export type BodyLocation = { inline: Buffer; size: number } | { path: string; size: number };

/** The body of blob `blobId` named `name`: from blob_data when inline, else its file's path. */
export function locateBlob(st: Statements, blobs: Blobs, blobId: number, name: string, size: number): BodyLocation {
  const data = st.get("SELECT data FROM blob_data WHERE blob_id = ?").pluck(true).get(blobId) as Buffer | undefined;
  return data !== undefined ? { inline: data, size } : { path: blobs.pathOf(name), size };
}

/** A stream of a stored body, or of octets [start, end] (inclusive, like createReadStream). */
export function streamBody(loc: BodyLocation, range?: { start: number; end?: number }): Readable {
  if ("inline" in loc) {
    const start = range?.start ?? 0;
    const end = range?.end === undefined ? loc.inline.length : Math.min(range.end + 1, loc.inline.length);
    return Readable.from(start < end ? [loc.inline.subarray(start, end)] : []);
  }
  return range ? createReadStream(loc.path, range.end === undefined ? { start: range.start } : { start: range.start, end: range.end }) : createReadStream(loc.path);
}

/** Inside a write transaction: deletes the blob rows no message or queue entry refers to any
 * more (their inline data goes with them, by trigger) and returns the names of those that have a
 * file, to unlink once the transaction has committed. */
export function deleteUnreferenced(st: Statements): string[] {
  const rows = st
    .get("SELECT b.name, EXISTS (SELECT 1 FROM blob_data d WHERE d.blob_id = b.id) AS inline FROM blobs b WHERE b.refs <= 0")
    .all() as Array<{ name: string; inline: number }>;
  if (rows.length === 0) return [];
  st.get("DELETE FROM blobs WHERE refs <= 0").run();
  return rows.filter((r) => !r.inline).map((r) => r.name);
}

/** A coalesced sync: run() resolves after a run of `work` that STARTED after the call (so it
 * covers every write made before the call); callers arriving while one runs share the next one,
 * so N concurrent callers cost at most two runs, not N. */
export class CoalescedSync {
  private running: Promise<void> | null = null;
  private next: Promise<void> | null = null;

  constructor(private readonly work: () => Promise<void>) {}

  run(): Promise<void> {
    if (!this.running) return this.start();
    this.next ??= this.running
      .catch(() => undefined)
      .then(() => {
        this.next = null;
        return this.start();
      });
    return this.next;
  }

  /** Resolves once no run is in progress or due. */
  async settled(): Promise<void> {
    await this.running?.catch(() => undefined);
    await this.next?.catch(() => undefined);
  }

  private start(): Promise<void> {
    const p = this.work().finally(() => {
      if (this.running === p) this.running = null;
    });
    this.running = p;
    return p;
  }
}

/** Coalesced directory fsyncs (one CoalescedSync per directory): N concurrent renames into one
 * directory cost at most two fsyncs. */
export class DirSync {
  private readonly dirs = new Map<string, CoalescedSync>();

  sync(dir: string): Promise<void> {
    let c = this.dirs.get(dir);
    if (!c) this.dirs.set(dir, (c = new CoalescedSync(() => fsyncDir(dir))));
    return c.run();
  }
}

export async function ensureDir(dir: string): Promise<void> {
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  await fsp.chmod(dir, 0o700);
}

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function writeFileDurably(file: string, data: Buffer): Promise<void> {
  const fh = await fsp.open(file, "wx", 0o600);
  try {
    let off = 0;
    while (off < data.length) {
      const { bytesWritten } = await fh.write(data, off, data.length - off, null);
      off += bytesWritten;
    }
    await fh.sync();
  } catch (e) {
    await fh.close().catch(() => undefined);
    await fsp.unlink(file).catch(() => undefined);
    throw e;
  }
  await fh.close();
}
