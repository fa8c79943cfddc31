// Streaming output transforms for multi-line responses (RFC 1939 §3): byte-stuffing and TOP.
//
// Both are pure, incremental state machines: they take the message body in chunks of any size
// (a boundary may fall anywhere, even between CR and LF) and never hold more than the current
// chunk, so a 50 MB message goes out without being held whole in memory.
//
// DotStuffer invariants: every line that begins with "." gets one more "." in front (RFC 1939 §3);
// the output always ends with a line end followed by the terminating ".\r\n", even if the stored
// body did not end with CRLF (the store always has CRLF; we are robust anyway). A line begins
// after LF, so a body with bare LFs is still stuffed correctly.
//
// TopLimiter invariants (RFC 1939 §7 TOP): passes the header section, the blank line that ends
// it, then at most `bodyLines` lines of the body, and reports `done` as soon as nothing more will
// pass, so the caller can stop reading the store.

const DOT = 0x2e;
const LF = 0x0a;
const CR = 0x0d;
const CRLF = Buffer.from("\r\n");
const TERMINATOR = Buffer.from(".\r\n");

export class DotStuffer {
  private atLineStart = true;
  private empty = true;

  /** Stuffs one chunk; returns the bytes to send (may be the chunk itself when nothing changes). */
  push(chunk: Buffer): Buffer {
    if (chunk.length === 0) return chunk;
    this.empty = false;
    const parts: Buffer[] = [];
    let from = 0;
    let atStart = this.atLineStart;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (atStart && b === DOT) {
        // RFC 1939 §3: a line beginning with the termination octet is prefixed with one more.
        parts.push(chunk.subarray(from, i), Buffer.from("."));
        from = i;
      }
      atStart = b === LF;
    }
    this.atLineStart = atStart;
    if (parts.length === 0) return chunk;
    parts.push(chunk.subarray(from));
    return Buffer.concat(parts);
  }

  /** The bytes that close the response: a CRLF if the body did not end a line, then ".\r\n". */
  end(): Buffer {
    if (this.empty || this.atLineStart) return TERMINATOR;
    return Buffer.concat([CRLF, TERMINATOR]);
  }
}

export class TopLimiter {
  private inHeader = true;
  private lineLength = 0; // octets of the current line seen so far, line end excluded
  private lineHasOnlyCr = false; // the current line so far is exactly "\r"
  private linesLeft: number;
  private finished = false;

  constructor(bodyLines: number) {
    this.linesLeft = bodyLines;
  }

  get done(): boolean {
    return this.finished;
  }

  /** Returns the part of `chunk` to send; after `done` becomes true, returns nothing more. */
  push(chunk: Buffer): Buffer {
    if (this.finished) return chunk.subarray(0, 0);
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (b !== LF) {
        this.lineHasOnlyCr = this.lineLength === 0 && b === CR;
        this.lineLength++;
        continue;
      }
      const blank = this.lineLength === 0 || (this.lineLength === 1 && this.lineHasOnlyCr);
      this.lineLength = 0;
      this.lineHasOnlyCr = false;
      if (this.inHeader) {
        if (blank) {
          // RFC 1939 §7: headers, then the blank line separating them from the body.
          this.inHeader = false;
          if (this.linesLeft === 0) return this.finish(chunk, i + 1);
        }
      } else if (--this.linesLeft === 0) {
        return this.finish(chunk, i + 1);
      }
    }
    return chunk;
  }

  private finish(chunk: Buffer, end: number): Buffer {
    this.finished = true;
    return chunk.subarray(0, end);
  }
}
