// SMTP replies as the outbound client reads them (RFC 5321 §4.2): a pure, bounded parser.
//
// Invariants: no I/O; every input is bounded (a line longer than MAX_REPLY_LINE or a multi-line
// reply of more than MAX_REPLY_LINES lines is an error, never an unbounded buffer), so a hostile
// server cannot make us hold more than a few hundred KB per connection.

/** RFC 5321 §4.5.3.1.5 allows 512 octets per reply line; real servers exceed it a little. */
export const MAX_REPLY_LINE = 2048;
/** A multi-line reply (EHLO) longer than this is refused. */
export const MAX_REPLY_LINES = 128;

export interface Reply {
  code: number;
  /** Text of each line without the code and separator. */
  lines: string[];
  /** RFC 3463 enhanced status code of the first line ("5.1.1"), if the server sent one. */
  enhanced: string | null;
}

export class ReplyFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ReplyFormatError";
  }
}

/** One reply line: "250-text" (more follows) or "250 text" / "250" (last). RFC 5321 §4.2. */
export function parseReplyLine(line: string): { code: number; last: boolean; text: string } {
  const m = /^([2-5][0-9][0-9])(?:([ -])(.*))?$/s.exec(line);
  if (!m) throw new ReplyFormatError(`malformed reply line: ${JSON.stringify(line.slice(0, 80))}`);
  return { code: Number(m[1]), last: m[2] !== "-", text: m[3] ?? "" };
}

const ENHANCED = /^([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$)/; // RFC 3463 §2

/** Accumulates reply lines into replies. Feed it one line (without CRLF) at a time. */
export class ReplyParser {
  private pending: string[] = [];
  private code = 0;

  /** Returns a reply once its last line arrived, otherwise null. Throws ReplyFormatError. */
  push(line: string): Reply | null {
    if (line.length > MAX_REPLY_LINE) throw new ReplyFormatError("reply line too long");
    const p = parseReplyLine(line);
    // RFC 5321 §4.2.1: every line of a multi-line reply carries the same code.
    if (this.pending.length > 0 && p.code !== this.code) throw new ReplyFormatError("reply code changed inside a multi-line reply");
    this.code = p.code;
    this.pending.push(p.text);
    if (this.pending.length > MAX_REPLY_LINES) throw new ReplyFormatError("multi-line reply too long");
    if (!p.last) return null;
    const lines = this.pending;
    this.pending = [];
    const em = ENHANCED.exec(lines[0] ?? "");
    // The enhanced code's class must agree with the reply's (RFC 3463 §2); otherwise ignore it.
    const enhanced = em && em[1] === String(p.code)[0] ? `${em[1]}.${em[2]}.${em[3]}` : null;
    return { code: p.code, lines, enhanced };
  }
}

/** Splits a byte stream into lines at LF (a CR before it is dropped), with a length cap. */
export class LineSplitter {
  private buf: Buffer = Buffer.alloc(0);

  constructor(private readonly max = MAX_REPLY_LINE) {}

  /** Returns the complete lines in `chunk`; throws ReplyFormatError on an over-long line. */
  push(chunk: Buffer): string[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: string[] = [];
    let start = 0;
    for (;;) {
      const nl = this.buf.indexOf(10, start);
      if (nl < 0) break;
      let end = nl;
      if (end > start && this.buf[end - 1] === 13) end--;
      if (end - start > this.max) throw new ReplyFormatError("reply line too long");
      out.push(this.buf.subarray(start, end).toString("utf8"));
      start = nl + 1;
    }
    this.buf = this.buf.subarray(start);
    if (this.buf.length > this.max + 1) throw new ReplyFormatError("reply line too long");
    return out;
  }

  /** Drops whatever was buffered (after STARTTLS, RFC 3207 §4.2). */
  clear(): void {
    this.buf = Buffer.alloc(0);
  }

  get buffered(): number {
    return this.buf.length;
  }
}

/** "550 5.1.1 No such user" (first line, and the rest joined), for logs and DSNs. */
export function replyText(r: Reply): string {
  return `${r.code} ${r.lines.join(" ").replace(/[\r\n\0]/g, " ")}`.trim().slice(0, 1000);
}

export const isPositive = (r: Reply): boolean => r.code >= 200 && r.code < 400;
export const isTransient = (r: Reply): boolean => r.code >= 400 && r.code < 500;
export const isPermanent = (r: Reply): boolean => r.code >= 500;

/** Parses EHLO keywords (RFC 5321 §4.1.1.1): upper-case keyword -> parameters. */
export function parseEhlo(r: Reply): Map<string, string> {
  const ext = new Map<string, string>();
  for (const line of r.lines.slice(1)) {
    const m = /^([A-Za-z0-9][A-Za-z0-9-]*)(?:[ =](.*))?$/.exec(line.trim());
    if (m) ext.set(m[1]!.toUpperCase(), (m[2] ?? "").trim());
  }
  return ext;
}
