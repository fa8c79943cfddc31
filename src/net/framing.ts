// The pure core of the connection reader: a byte queue fed with chunks as they arrive, from
// which lines (split on LF) and exact byte counts (literals) are taken. No I/O, no timers: the
// socket glue in reader.ts decides when to feed it and what to do with its answers.
//
// Invariants:
// - Bytes come out exactly once, in order; NUL and 8-bit bytes pass through untouched.
// - A line is split on LF; `crlf` says whether a CR preceded it (bare LF is reported, not fixed).
// - An unterminated line never holds more than `maxBytes` + 1 (a trailing CR) octets once
//   `takeLine(maxBytes)` has seen it: on overflow the buffered part is dropped and the rest of
//   that line is discarded as it arrives (never buffered), up to and including its LF.
// - Scanning for LF is incremental: each byte is looked at once, however many chunks a line
//   spans. Lines within one chunk are returned as zero-copy views of it (pipelining); a line
//   spanning chunks is copied once, when it is complete. Tiny chunks (slow-drip clients) are
//   coalesced into a shared block so a 1-byte-per-packet client costs bytes, not objects.

import type { Line } from "./types.js";

export type LineResult =
  | { kind: "line"; line: Line }
  | { kind: "need-more" }
  /** The line passed the limit. It has been dropped; its rest is discarded as it arrives. */
  | { kind: "too-long" }
  /** End of input between lines. */
  | { kind: "eof" }
  /** End of input in the middle of a line. */
  | { kind: "eof-mid-line" };

const LF = 0x0a;
const CR = 0x0d;
/** Chunks shorter than this are copied into a shared block instead of being queued. */
const SMALL_CHUNK = 512;
const BLOCK_SIZE = 8192;

export class InputBuffer {
  private chunks: Buffer[] = [];
  /** Index of the first live chunk in `chunks`, and the offset of the first live byte in it. */
  private head = 0;
  private headOff = 0;
  private length = 0;
  /** Where the LF scan resumes, and how many live bytes lie before that point. */
  private scanIdx = 0;
  private scanOff = 0;
  private scanned = 0;
  /** The block small chunks are copied into, how far it is filled, and which entry of `chunks`
   * (if any) is the view of it that can still grow. */
  private block: Buffer | null = null;
  private blockLen = 0;
  private blockViewIdx = -1;
  private blockViewStart = 0;
  private discarding = false;
  private ended = false;
  private discardedTotal = 0;

  /** Octets buffered and not yet taken. */
  get buffered(): number {
    return this.length;
  }

  /** True after end(): no more input will come. */
  get atEnd(): boolean {
    return this.ended;
  }

  /** Octets thrown away so far as the tail of over-long lines. */
  get discardedBytes(): number {
    return this.discardedTotal;
  }

  /** True while the rest of an over-long line is being dropped. */
  get isDiscarding(): boolean {
    return this.discarding;
  }

  /** Adds received bytes. */
  push(chunk: Buffer): void {
    if (chunk.length === 0 || this.ended) return;
    if (this.discarding) {
      const i = chunk.indexOf(LF);
      if (i === -1) {
        this.discardedTotal += chunk.length;
        return;
      }
      this.discardedTotal += i + 1;
      this.discarding = false;
      chunk = chunk.subarray(i + 1);
      if (chunk.length === 0) return;
    }
    this.length += chunk.length;
    if (chunk.length >= SMALL_CHUNK) {
      this.chunks.push(chunk);
      this.blockViewIdx = -1;
      return;
    }
    // Coalesce: append to the growing view of the block when it is the last chunk.
    if (this.block === null || this.block.length - this.blockLen < chunk.length) {
      this.block = Buffer.allocUnsafe(BLOCK_SIZE);
      this.blockLen = 0;
      this.blockViewIdx = -1;
    }
    chunk.copy(this.block, this.blockLen);
    if (this.blockViewIdx === this.chunks.length - 1 && this.blockViewIdx >= this.head) {
      this.blockLen += chunk.length;
      // Only ever appended to: views already handed out keep their bytes.
      this.chunks[this.blockViewIdx] = this.block.subarray(this.blockViewStart, this.blockLen);
    } else {
      this.blockViewStart = this.blockLen;
      this.blockLen += chunk.length;
      this.chunks.push(this.block.subarray(this.blockViewStart, this.blockLen));
      this.blockViewIdx = this.chunks.length - 1;
    }
  }

  /** Marks the end of input (the peer closed its side). */
  end(): void {
    this.ended = true;
  }

  /** Takes the next line of at most `maxBytes` octets (line ending excluded). */
  takeLine(maxBytes: number): LineResult {
    if (this.discarding) return this.ended ? { kind: "eof-mid-line" } : { kind: "need-more" };
    while (this.scanIdx < this.chunks.length) {
      const c = this.chunks[this.scanIdx]!;
      const from = this.scanIdx === this.head ? Math.max(this.scanOff, this.headOff) : this.scanOff;
      const i = c.indexOf(LF, from);
      if (i !== -1) {
        const before = this.scanned + (i - from); // live octets before the LF
        const crlf = before > 0 && this.byteBefore(this.scanIdx, i) === CR;
        const contentLen = crlf ? before - 1 : before;
        if (contentLen > maxBytes) {
          this.advance(before + 1);
          return { kind: "too-long" };
        }
        const bytes = this.extract(before);
        this.advance(1); // the LF
        return { kind: "line", line: { bytes: crlf ? bytes.subarray(0, contentLen) : bytes, crlf } };
      }
      this.scanned += c.length - from;
      if (this.scanIdx === this.chunks.length - 1) {
        this.scanOff = c.length; // the last chunk may still grow (coalescing): stay on it
        break;
      }
      this.scanIdx++;
      this.scanOff = 0;
    }
    // No LF yet. Content plus a possible trailing CR may be up to maxBytes + 1 octets.
    if (this.length > maxBytes + 1) {
      this.discardedTotal += this.length;
      this.clear();
      this.discarding = !this.ended;
      return { kind: "too-long" };
    }
    if (this.ended) return this.length === 0 ? { kind: "eof" } : { kind: "eof-mid-line" };
    return { kind: "need-more" };
  }

  /** Takes up to `max` buffered octets, as a view of one received chunk (no copy); null when
   * nothing is buffered. */
  takeBytes(max: number): Buffer | null {
    if (this.length === 0 || max <= 0) return null;
    const c = this.chunks[this.head]!;
    const n = Math.min(max, c.length - this.headOff);
    const out = c.subarray(this.headOff, this.headOff + n);
    this.advance(n);
    return out;
  }

  /** Drops everything buffered (STARTTLS: RFC 3207 §4.2, RFC 2595 §3.1); returns how much. */
  discardAll(): number {
    const n = this.length;
    this.clear();
    this.discarding = false;
    return n;
  }

  /** The byte just before position (idx, off); the caller knows there is a live one. */
  private byteBefore(idx: number, off: number): number {
    if (off > (idx === this.head ? this.headOff : 0)) return this.chunks[idx]![off - 1]!;
    // The LF opens its chunk: the CR, if any, ends the previous live chunk.
    const prev = this.chunks[idx - 1]!;
    return prev[prev.length - 1]!;
  }

  /** The first `n` live octets as one Buffer (a view when they lie in one chunk), consumed. */
  private extract(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const c = this.chunks[this.head]!;
    if (c.length - this.headOff >= n) {
      const out = c.subarray(this.headOff, this.headOff + n);
      this.advance(n);
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const part = this.takeBytes(n - filled)!;
      part.copy(out, filled);
      filled += part.length;
    }
    return out;
  }

  /** Consumes `n` live octets and restarts the LF scan at the new head. */
  private advance(n: number): void {
    this.length -= n;
    while (n > 0) {
      const c = this.chunks[this.head]!;
      const rest = c.length - this.headOff;
      if (n < rest) {
        this.headOff += n;
        n = 0;
      } else {
        n -= rest;
        this.head++;
        this.headOff = 0;
      }
    }
    if (this.length === 0) {
      this.chunks = [];
      this.head = 0;
      this.headOff = 0;
      this.blockViewIdx = -1;
    } else if (this.head > 64 && this.head * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.head);
      if (this.blockViewIdx !== -1) this.blockViewIdx -= this.head;
      this.head = 0;
    }
    this.scanIdx = this.head;
    this.scanOff = this.headOff;
    this.scanned = 0;
  }

  private clear(): void {
    this.chunks = [];
    this.head = 0;
    this.headOff = 0;
    this.length = 0;
    this.scanIdx = 0;
    this.scanOff = 0;
    this.scanned = 0;
    this.blockViewIdx = -1;
  }
}
