// Where one incoming message (DATA or BDAT) is collected: in memory while it is small, in a spool
// file once it is not, so that a large message is never held whole in memory (threat model §4).
//
// Most mail is small: kept in memory, it is checked, parsed and handed to the store as one buffer,
// and the only file it ever gets is its durable body file in the store (no spool file created,
// copied and unlinked per message: file creation and deletion are what a mail server's kernel time
// goes to). A message that grows past MEMORY_MAX, or arrives while all sessions together already
// hold MEMORY_BUDGET in memory, is moved to a spool file at that moment and streamed from then on.
//
// Layout (memory or file): "Return-Path: <sender>\r\n", then our Received: header, then the message
// as received. Local delivery hands the whole content to the store (which may rename the file into
// place); the outbound queue gets a copy without the Return-Path: line (RFC 5321 §4.4: Return-Path
// is added at final delivery only).
//
// Invariants:
// - A spool file is created exclusively (O_EXCL) with mode 0600 in a 0700 directory under the
//   data directory (same file system as the store, so it can be renamed rather than copied).
// - Memory: at most MEMORY_MAX per spool in memory, and at most MEMORY_BUDGET for all in-memory
//   spools of the process together (reserved before it is used, released by finish()'s consumer
//   through discard()); a file spool holds at most FLUSH_AT + HEADER_CAP.
// - Past `maxSize` octets of message, nothing more is kept (but the caller keeps reading to
//   the end of the data, and then refuses with 552 5.3.4) — the limit is enforced while streaming.
// - Any CR not followed by LF, and any LF not preceded by CR, sets `bareLineEnding`.
// - The header section (up to the first empty line) is kept in memory, up to HEADER_CAP octets,
//   for the Received:-count and From: checks.

import { open, mkdir, rm, type FileHandle } from "node:fs/promises";
import { createReadStream, createWriteStream } from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { randomBytes } from "node:crypto";
import { join } from "node:path";

const FLUSH_AT = 64 * 1024;
/** The largest message (with our trace fields) kept in memory rather than in a spool file. */
export const MEMORY_MAX = 256 * 1024;
/** All in-memory spools of the process together; past it, new data goes to spool files. */
export const MEMORY_BUDGET = 64 * 1024 * 1024;
let memoryInUse = 0;
/** Octets currently held by in-memory spools (for tests and metrics). */
export function spoolMemoryInUse(): number {
  return memoryInUse;
}
/** The largest header section we parse; longer ones are refused (no real mail comes close). */
export const HEADER_CAP = 1024 * 1024;

const CR = 0x0d;
const LF = 0x0a;
const CRLF = Buffer.from("\r\n");
const LFONLY = Buffer.from("\n");
const EMPTY = Buffer.alloc(0);

/** A finished spool's content: one buffer, or a closed file. */
export type SpoolContent = { kind: "memory"; data: Buffer } | { kind: "file"; path: string; size: number };

export async function spoolDir(dataDir: string): Promise<string> {
  const dir = join(dataDir, "tmp", "smtp");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return dir;
}

export async function tempPath(dir: string): Promise<string> {
  return join(dir, `${Date.now().toString(36)}-${randomBytes(9).toString("base64url")}.eml`);
}

export class Spool {
  /** Octets of message received so far (after dot-unstuffing), counted even past the limit. */
  size = 0;
  overLimit = false;
  bareLineEnding = false;
  headerTooBig = false;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private written = 0;
  private headerChunks: Buffer[] = [];
  private headerBytes = 0;
  private headerDone = false;
  /** How much of "\r\n\r\n" has been matched; starts at 2 so that a leading CRLF means "no headers". */
  private eohMatch = 2;
  private lastWasCr = false;
  private closed = false;
  /** The spool file, once the message no longer fits in memory. */
  private file: { path: string; fh: FileHandle } | null = null;
  /** The message while in memory: `mem[0, memLength)`; `reserved` octets of MEMORY_BUDGET
   * (the buffer's capacity) are counted against the process. */
  private mem: Buffer = EMPTY;
  private memLength = 0;
  private reserved = 0;
  private content: SpoolContent | null = null;

  private constructor(
    private readonly dir: string,
    private readonly maxSize: number,
    /** Octets of the Return-Path: line at the start. */
    readonly returnPathLength: number,
    /** Octets of Return-Path: + Received: at the start. */
    readonly prefixLength: number,
  ) {}

  static async create(dir: string, maxSize: number, returnPath: string, received: string): Promise<Spool> {
    const rp = Buffer.from(returnPath, "utf8");
    const rc = Buffer.from(received, "utf8");
    const spool = new Spool(dir, maxSize, rp.length, rp.length + rc.length);
    await spool.keep(rp);
    await spool.keep(rc);
    return spool;
  }

  /** The spool file's path, or null while the message is in memory. */
  get path(): string | null {
    return this.file?.path ?? null;
  }

  /** One DATA line, already dot-unstuffed; `crlf` false when it ended in a bare LF. */
  async appendLine(payload: Buffer, crlf: boolean): Promise<void> {
    if (!crlf || payload.includes(CR)) this.bareLineEnding = true; // RFC 5321 §2.3.8
    await this.append(payload);
    await this.append(crlf ? CRLF : LFONLY);
  }

  /** One BDAT chunk piece (RFC 3030: raw octets, no dot-stuffing). Line endings are checked
   * across piece boundaries. */
  async appendRaw(chunk: Buffer): Promise<void> {
    this.checkLineEndings(chunk);
    await this.append(chunk);
  }

  /** After the last BDAT chunk: a CR at the very end is a bare CR. */
  endRaw(): void {
    if (this.lastWasCr) this.bareLineEnding = true;
    this.lastWasCr = false;
  }

  private checkLineEndings(chunk: Buffer): void {
    if (this.bareLineEnding || chunk.length === 0) {
      if (chunk.length > 0) this.lastWasCr = chunk[chunk.length - 1] === CR;
      return;
    }
    if (this.lastWasCr && chunk[0] !== LF) this.bareLineEnding = true;
    if (!this.lastWasCr && chunk[0] === LF) this.bareLineEnding = true;
    for (let i = chunk.indexOf(LF, 1); i !== -1; i = chunk.indexOf(LF, i + 1)) {
      if (chunk[i - 1] !== CR) {
        this.bareLineEnding = true;
        break;
      }
    }
    for (let i = chunk.indexOf(CR); i !== -1 && i < chunk.length - 1; i = chunk.indexOf(CR, i + 1)) {
      if (chunk[i + 1] !== LF) {
        this.bareLineEnding = true;
        break;
      }
    }
    this.lastWasCr = chunk[chunk.length - 1] === CR;
  }

  private async append(buf: Buffer): Promise<void> {
    if (buf.length === 0) return;
    this.size += buf.length;
    if (!this.headerDone) this.scanHeader(buf);
    if (this.overLimit) return;
    if (this.size > this.maxSize) {
      // RFC 1870 §6.3: stop storing, keep reading, refuse at the end with 552 5.3.4.
      this.overLimit = true;
      this.pending = [];
      this.pendingBytes = 0;
      this.mem = EMPTY;
      this.memLength = 0;
      this.release();
      return;
    }
    await this.keep(buf);
  }

  /** Keeps `buf` (copied while in memory: the caller's buffer may be reused). */
  private async keep(buf: Buffer): Promise<void> {
    if (this.file === null) {
      const need = this.memLength + buf.length;
      if (need <= this.mem.length || (need <= MEMORY_MAX && this.grow(need))) {
        buf.copy(this.mem, this.memLength);
        this.memLength = need;
        return;
      }
      await this.spill();
    }
    this.pending.push(buf);
    this.pendingBytes += buf.length;
    if (this.pendingBytes >= FLUSH_AT) await this.flush();
  }

  /** Grows the memory buffer to hold `need` octets, within MEMORY_MAX and MEMORY_BUDGET. */
  private grow(need: number): boolean {
    const capacity = Math.min(MEMORY_MAX, Math.max(need, this.mem.length * 2, 16 * 1024));
    if (memoryInUse - this.reserved + capacity > MEMORY_BUDGET) return false;
    memoryInUse += capacity - this.reserved;
    this.reserved = capacity;
    const next = Buffer.allocUnsafe(capacity);
    this.mem.copy(next, 0, 0, this.memLength);
    this.mem = next;
    return true;
  }

  /** Moves an in-memory spool to a new spool file. */
  private async spill(): Promise<void> {
    const path = await tempPath(this.dir);
    const fh = await open(path, "wx", 0o600);
    this.file = { path, fh };
    if (this.memLength > 0) {
      this.pending.push(this.mem.subarray(0, this.memLength));
      this.pendingBytes += this.memLength;
    }
    await this.flush();
    this.mem = EMPTY;
    this.memLength = 0;
    this.release();
  }

  private release(): void {
    memoryInUse -= this.reserved;
    this.reserved = 0;
  }

  private scanHeader(buf: Buffer): void {
    const pattern = [CR, LF, CR, LF];
    let end = -1;
    for (let i = 0; i < buf.length; i++) {
      const b = buf[i]!;
      if (b === pattern[this.eohMatch]) this.eohMatch++;
      else this.eohMatch = b === CR ? 1 : 0;
      if (this.eohMatch === 4) {
        end = i + 1;
        break;
      }
    }
    const take = end === -1 ? buf : buf.subarray(0, end);
    if (this.headerBytes + take.length > HEADER_CAP) {
      this.headerTooBig = true;
      this.headerDone = true;
      this.headerChunks = [];
      return;
    }
    this.headerChunks.push(Buffer.from(take));
    this.headerBytes += take.length;
    if (end !== -1) this.headerDone = true;
  }

  /** The header section (through the empty line), or the whole message when it has no empty line
   * (a message that is all header), or null when it was too big to keep. */
  header(): Buffer | null {
    return this.headerTooBig ? null : Buffer.concat(this.headerChunks);
  }

  private async flush(): Promise<void> {
    if (this.pendingBytes === 0 || this.file === null) return;
    // One buffer per flush (at most FLUSH_AT plus one line): no iovec limits, one syscall.
    const buf = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    for (let off = 0; off < buf.length; ) {
      const { bytesWritten } = await this.file.fh.write(buf, off, buf.length - off);
      off += bytesWritten;
    }
    this.written += buf.length;
  }

  /** Ends the spool (a file is flushed and closed) and returns its content (the same content when
   * called again). */
  async finish(): Promise<SpoolContent> {
    if (this.content) return this.content;
    if (this.file === null) {
      this.content = { kind: "memory", data: this.mem.subarray(0, this.memLength) };
      return this.content;
    }
    await this.flush();
    if (!this.closed) {
      this.closed = true;
      await this.file.fh.close();
    }
    this.content = { kind: "file", path: this.file.path, size: this.written };
    return this.content;
  }

  /** The finished content from octet `start` on, as a stream. */
  readFrom(start: number): Readable {
    const c = this.content;
    if (!c) throw new Error("spool not finished");
    return c.kind === "memory" ? Readable.from([c.data.subarray(start)]) : createReadStream(c.path, { start });
  }

  /** Octets [start, end) of the finished content. */
  async slice(start: number, end: number): Promise<Buffer> {
    const c = this.content;
    if (!c) throw new Error("spool not finished");
    if (c.kind === "memory") return c.data.subarray(start, end);
    const buf = Buffer.alloc(end - start);
    const fh = await open(c.path, "r");
    try {
      const { bytesRead } = await fh.read(buf, 0, buf.length, start);
      if (bytesRead !== buf.length) throw new Error("spool file shorter than expected");
    } finally {
      await fh.close();
    }
    return buf;
  }

  /** The finished content without the Return-Path: line (for the queue): a buffer for an
   * in-memory spool, else a copy in a new temp file in `dir` (the caller removes it). */
  async copyForQueue(dir: string): Promise<Buffer | { path: string; size: number }> {
    const c = this.content;
    if (!c) throw new Error("spool not finished");
    if (c.kind === "memory") return c.data.subarray(this.returnPathLength);
    const path = await tempPath(dir);
    await pipeline(createReadStream(c.path, { start: this.returnPathLength }), createWriteStream(path, { flags: "wx", mode: 0o600 }));
    return { path, size: c.size - this.returnPathLength };
  }

  /** Releases the memory, closes (if open) and removes the file; safe to call more than once
   * and after a rename. */
  async discard(): Promise<void> {
    this.release();
    this.mem = EMPTY;
    this.memLength = 0;
    this.pending = [];
    this.pendingBytes = 0;
    if (this.file === null) return;
    if (!this.closed) {
      this.closed = true;
      await this.file.fh.close().catch(() => undefined);
    }
    await rm(this.file.path, { force: true });
  }
}
