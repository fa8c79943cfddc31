// The spool file one incoming message is streamed into (DATA or BDAT), so that a message is never
// held whole in memory (threat model §4).
//
// Layout of the file: "Return-Path: <sender>\r\n", then our Received: header, then the message as
// received. Local delivery hands the whole file to the store (which may rename it into place);
// the outbound queue gets a copy without the Return-Path: line (RFC 5321 §4.4: Return-Path is
// added at final delivery only).
//
// Invariants:
// - The file is created exclusively (O_EXCL) with mode 0600 in a 0700 directory under the data
//   directory (same file system as the store, so it can be renamed rather than copied).
// - Past `maxSize` octets of message, nothing more is written (but the caller keeps reading to
//   the end of the data, and then refuses with 552 5.3.4) — the limit is enforced while streaming.
// - Any CR not followed by LF, and any LF not preceded by CR, sets `bareLineEnding`.
// - The header section (up to the first empty line) is kept in memory, up to HEADER_CAP octets,
//   for the Received:-count and From: checks.
// - Memory per spool is bounded by FLUSH_AT + HEADER_CAP.

import { open, mkdir, rm, type FileHandle } from "node:fs/promises";
import { createReadStream, createWriteStream } from "node:fs";
import { pipeline } from "node:stream/promises";
import { randomBytes } from "node:crypto";
import { join } from "node:path";

const FLUSH_AT = 64 * 1024;
/** The largest header section we parse; longer ones are refused (no real mail comes close). */
export const HEADER_CAP = 1024 * 1024;

const CR = 0x0d;
const LF = 0x0a;
const CRLF = Buffer.from("\r\n");
const LFONLY = Buffer.from("\n");

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

  private constructor(
    readonly path: string,
    private fh: FileHandle,
    private readonly maxSize: number,
    /** Octets of the Return-Path: line at the start of the file. */
    readonly returnPathLength: number,
    /** Octets of Return-Path: + Received: at the start of the file. */
    readonly prefixLength: number,
  ) {}

  static async create(dir: string, maxSize: number, returnPath: string, received: string): Promise<Spool> {
    const path = await tempPath(dir);
    const fh = await open(path, "wx", 0o600);
    const rp = Buffer.from(returnPath, "utf8");
    const rc = Buffer.from(received, "utf8");
    const spool = new Spool(path, fh, maxSize, rp.length, rp.length + rc.length);
    spool.pending.push(rp, rc);
    spool.pendingBytes = rp.length + rc.length;
    return spool;
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
      return;
    }
    this.pending.push(buf);
    this.pendingBytes += buf.length;
    if (this.pendingBytes >= FLUSH_AT) await this.flush();
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
    if (this.pendingBytes === 0) return;
    // One buffer per flush (at most FLUSH_AT plus one line): no iovec limits, one syscall.
    const buf = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    for (let off = 0; off < buf.length; ) {
      const { bytesWritten } = await this.fh.write(buf, off, buf.length - off);
      off += bytesWritten;
    }
    this.written += buf.length;
  }

  /** Flushes and closes the file; returns the file's total size. */
  async finish(): Promise<number> {
    await this.flush();
    if (!this.closed) {
      this.closed = true;
      await this.fh.close();
    }
    return this.written;
  }

  /** Writes a copy of the spool without the Return-Path: line to a new temp file (for the queue). */
  async copyForQueue(dir: string): Promise<{ path: string; size: number }> {
    const path = await tempPath(dir);
    await pipeline(createReadStream(this.path, { start: this.returnPathLength }), createWriteStream(path, { flags: "wx", mode: 0o600 }));
    return { path, size: this.written - this.returnPathLength };
  }

  /** Closes (if open) and removes the file; safe to call more than once and after a rename. */
  async discard(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      await this.fh.close().catch(() => undefined);
    }
    await rm(this.path, { force: true });
  }
}
