// The IMAP command parser: resumable over the lines and literals the gate's reader delivers, in the
// style of Stalwart's receiver. Each fed line yields "need a literal of n octets", a typed command,
// or an error that carries the response the session must send (RFC 9051 §9 grammar).
//
// How a session drives it:
//   r = p.feedLine(line)
//   while (r.kind === "need-literal") {
//     if (!r.nonSync) send "+ Ready";       // RFC 9051 §4.3: synchronising literal
//     p.feedLiteral(await conn.readBytes(r.size))   // or stream an APPEND message to a file and
//                                                   // feed { path, size } (r.message is true)
//     r = p.feedLine(await conn.readLine(...))
//   }
//   r.kind === "command" -> run it; r.kind === "error" -> tagged/untagged BAD or NO, see fields.
//
// Invariants:
// - Every size cap comes from src/net/limits.ts (or the caller's message size limit); an
//   oversized literal announcement is refused before a single octet of it is read (RFC 7888 §4
//   [TOOBIG]); a non-synchronising one the client will send anyway marks the error `close`.
// - Literals are only recognised at the end of a line and outside quoted strings.
// - After a "command" or "error" result the parser is empty and ready for the next command.
// - Pure: no I/O, no clock, never throws on client input.

import { IMAP_MAX_COMMAND_LINE, IMAP_MAX_NONSYNC_LITERAL, IMAP_MAX_SMALL_LITERAL } from "../net/limits.js";
import { Cursor, ImapSyntaxError, utf8, type ExternalLiteral, type LiteralSlot } from "./lexer.js";
import { parseArgs, type CommandArgs, type CommandName, COMMAND_NAMES, UID_COMMANDS } from "./commands.js";

export { ImapSyntaxError } from "./lexer.js";
export type { CommandArgs, CommandName } from "./commands.js";

/** Total octets of one command outside its APPEND message: lines plus small literals. A parser
 * constant rather than a reader limit: the reader sees one line or literal at a time. */
export const IMAP_MAX_COMMAND_TOTAL = IMAP_MAX_COMMAND_LINE + 4 * IMAP_MAX_SMALL_LITERAL;
/** Most literals in one command (LOGIN has 2, SEARCH a handful). */
export const IMAP_MAX_LITERALS = 64;

export type ParsedCommand = {
  [K in CommandName]: { kind: "command"; tag: string; name: K; uid: boolean; args: CommandArgs[K] };
}[CommandName];

export interface NeedLiteral {
  kind: "need-literal";
  size: number;
  /** LITERAL+ / LITERAL- `{n+}`: the client sends without waiting; no "+" (RFC 7888 §3). */
  nonSync: boolean;
  /** literal8 `~{n}` (RFC 3516 §4.3). */
  binary: boolean;
  /** True when this literal is the message of an APPEND: the session may stream it to a file
   * and feed `{ path, size }` instead of the bytes. */
  message: boolean;
}

export interface ParseError {
  kind: "error";
  /** The command's tag, or null when no valid tag was read ("* BAD"). */
  tag: string | null;
  status: "BAD" | "NO";
  /** Response code without brackets ("TOOBIG", "BADCHARSET (US-ASCII UTF-8)"), or null. */
  code: string | null;
  message: string;
  /** The client is sending a non-synchronising literal we refused to read: answer, then close
   * the connection (RFC 7888 §4), since the rest of its input cannot be framed. */
  close: boolean;
}

export type ParseResult = NeedLiteral | ParsedCommand | ParseError;

export interface ParserOptions {
  /** Largest APPEND message accepted (config limit); larger announcements get [TOOBIG]. */
  maxMessageSize: number;
  /** Whether LITERAL+ is advertised; when false, `{n+}` above 4096 is refused (LITERAL-). */
  literalPlus?: boolean;
}

type InputLine = Buffer | { bytes: Buffer };

const LITERAL_AT_END = /(~?)\{(\d{1,20})(\+?)\}$/;

export class CommandParser {
  private chunks: Buffer[] = [];
  private length = 0;
  /** Octets counted against IMAP_MAX_COMMAND_TOTAL: everything but an APPEND message. */
  private counted = 0;
  private literals = new Map<number, LiteralSlot>();
  private pending: (NeedLiteral & { at: number }) | null = null;
  /** Set when the command failed early but a non-sync literal still has to be consumed. */
  private failed: ParseError | null = null;

  constructor(private readonly opts: ParserOptions) {}

  /** Drops any partial command (e.g. after the connection's reader failed). */
  reset(): void {
    this.chunks = [];
    this.length = 0;
    this.counted = 0;
    this.literals = new Map();
    this.pending = null;
    this.failed = null;
  }

  /** True while a command is partially received. */
  get busy(): boolean {
    return this.length > 0 || this.pending !== null;
  }

  /** Feeds one line (without its CRLF). */
  feedLine(input: InputLine): ParseResult {
    if (this.pending) throw new Error("CommandParser: a literal was expected, not a line"); // caller bug
    const line = Buffer.isBuffer(input) ? input : input.bytes;
    if (line.length > IMAP_MAX_COMMAND_LINE) return this.fail(null, "Command line too long", "BAD", null, false);
    const first = this.chunks.length === 0;
    const lit = literalAtEnd(line);
    if (this.failed) {
      // Skipping the remainder of a refused command whose client uses non-sync literals.
      if (lit) return this.announce(lit, line);
      const f = this.failed;
      this.reset();
      return f;
    }
    if (first && line.length === 0) return this.fail(null, "Empty command line", "BAD", null, false);
    this.push(line);
    if (this.counted > IMAP_MAX_COMMAND_TOTAL) return this.fail(this.peekTag(), "Command too long", "BAD", "TOOBIG", lit?.nonSync ?? false);
    if (lit) return this.announce(lit, line);
    return this.finish();
  }

  /** Feeds the data of the literal last asked for: its bytes, or where an APPEND message was
   * streamed (only when the NeedLiteral said `message`). */
  feedLiteral(data: Buffer | ExternalLiteral): void {
    const p = this.pending;
    if (!p) throw new Error("CommandParser: no literal was announced"); // caller bug
    const size = Buffer.isBuffer(data) ? data.length : data.size;
    if (size !== p.size) throw new Error("CommandParser: literal size differs from its announcement");
    this.pending = null;
    if (this.failed) return; // discarded
    if (!Buffer.isBuffer(data) && !p.message) throw new Error("CommandParser: only an APPEND message may be external");
    this.push(Buffer.from("\r\n"));
    const dataStart = this.length;
    if (Buffer.isBuffer(data)) {
      this.push(data);
      if (p.message) this.counted -= data.length; // bounded by maxMessageSize instead
      this.literals.set(p.at, { size, dataStart, binary: p.binary, external: null });
    } else {
      this.literals.set(p.at, { size, dataStart, binary: p.binary, external: data });
    }
  }

  private push(b: Buffer): void {
    this.chunks.push(b);
    this.length += b.length;
    this.counted += b.length;
  }

  private announce(lit: { size: number; nonSync: boolean; binary: boolean; index: number }, line: Buffer): ParseResult {
    const at = this.length - line.length + lit.index;
    if (this.failed) {
      // RFC 7888 §4: we cannot refuse what the client sends unasked; only small ones are swallowed.
      if (!lit.nonSync) {
        const f = this.failed;
        this.reset();
        return f;
      }
      if (lit.size > IMAP_MAX_NONSYNC_LITERAL) {
        const f = { ...this.failed, close: true };
        this.reset();
        return f;
      }
      this.pending = { kind: "need-literal", size: lit.size, nonSync: true, binary: lit.binary, message: false, at };
      return { kind: "need-literal", size: lit.size, nonSync: true, binary: lit.binary, message: false };
    }
    const tag = this.peekTag();
    const early = this.earlyCheck();
    const message = early === null && this.isAppendMessage(at);
    let refusal: { text: string; status: "BAD" | "NO"; code: string | null } | null = null;
    if (early !== null) refusal = { text: early, status: "BAD", code: null };
    else if (this.literals.size >= IMAP_MAX_LITERALS) refusal = { text: "Too many literals", status: "BAD", code: null };
    else if (message) {
      // RFC 9051 §7.1 TOOBIG / RFC 7888 §4: refuse an APPEND larger than we accept, before reading it.
      if (lit.size > this.opts.maxMessageSize) refusal = { text: "Message too large", status: lit.nonSync ? "BAD" : "NO", code: "TOOBIG" };
    } else if (lit.binary) {
      refusal = { text: "literal8 is only allowed for message data", status: "BAD", code: null }; // RFC 3516 §4.3
    } else if (lit.size > IMAP_MAX_SMALL_LITERAL || (lit.nonSync && !this.opts.literalPlus && lit.size > IMAP_MAX_NONSYNC_LITERAL)) {
      refusal = { text: "Literal too large", status: "BAD", code: "TOOBIG" }; // RFC 7888 §4
    } else if (lit.nonSync && lit.size > IMAP_MAX_NONSYNC_LITERAL) {
      refusal = { text: "Non-synchronising literal too large", status: "BAD", code: "TOOBIG" };
    } else if (this.counted + lit.size > IMAP_MAX_COMMAND_TOTAL) {
      refusal = { text: "Command too long", status: "BAD", code: "TOOBIG" };
    }
    if (refusal) {
      const err: ParseError = { kind: "error", tag, status: refusal.status, code: refusal.code, message: refusal.text, close: false };
      if (!lit.nonSync) {
        // The client waits for "+" and will not send the literal: the command simply ends here.
        this.reset();
        return err;
      }
      if (lit.size > IMAP_MAX_NONSYNC_LITERAL) {
        this.reset();
        return { ...err, close: true };
      }
      // A small non-sync literal: swallow it and the rest of the command, then answer.
      this.failed = err;
      this.pending = { kind: "need-literal", size: lit.size, nonSync: true, binary: lit.binary, message: false, at };
      return { kind: "need-literal", size: lit.size, nonSync: true, binary: lit.binary, message: false };
    }
    this.pending = { kind: "need-literal", size: lit.size, nonSync: lit.nonSync, binary: lit.binary, message, at };
    return { kind: "need-literal", size: lit.size, nonSync: lit.nonSync, binary: lit.binary, message };
  }

  private buffer(): Buffer {
    if (this.chunks.length !== 1) {
      const b = Buffer.concat(this.chunks);
      this.chunks = [b];
    }
    return this.chunks[0]!;
  }

  /** The tag of the command being received, when it is a valid tag. */
  private peekTag(): string | null {
    const buf = this.buffer();
    const c = new Cursor(buf, this.literals);
    const t = c.astringAtom();
    return validTag(t) && c.peek() === 0x20 ? t : null;
  }

  /** Validates tag and command name before a literal is accepted: an unknown command must not
   * get a "+" (RFC 9051 §7.5: BAD instead of a continuation). Returns the error text or null. */
  private earlyCheck(): string | null {
    const c = new Cursor(this.buffer(), this.literals);
    const t = c.astringAtom();
    if (!validTag(t)) return "Invalid tag";
    if (!c.trySp()) return "Missing command";
    let name = c.astringAtom().toUpperCase();
    if (name === "UID") {
      if (!c.trySp()) return "Missing command after UID";
      name = c.astringAtom().toUpperCase();
      if (!UID_COMMANDS.has(name)) return "Invalid UID command";
    } else if (!COMMAND_NAMES.has(name)) return "Unknown command";
    if (c.peek() !== 0x20) return "Missing arguments";
    return null;
  }

  /** Is the literal announced at `at` the message of an APPEND (RFC 9051 §6.3.12)? */
  private isAppendMessage(at: number): boolean {
    const c = new Cursor(this.buffer(), this.literals);
    try {
      c.astringAtom();
      c.sp();
      if (c.atom().toUpperCase() !== "APPEND") return false;
      c.sp();
      if (c.pos === at) return false; // the mailbox name itself
      c.astring();
      c.sp();
      if (c.peek() === 0x28) {
        c.list(() => {
          c.tryChar("\\");
          return c.atom();
        });
        c.sp();
      }
      if (c.peek() === 0x22) {
        c.stringValue();
        c.sp();
      }
      if (c.tryWord("UTF8")) {
        // RFC 6855 §4: UTF8 (~{n}...)
        c.sp();
        c.char("(");
      }
      return c.pos === at;
    } catch {
      return false;
    }
  }

  private finish(): ParseResult {
    const buf = this.buffer();
    const literals = this.literals;
    const c = new Cursor(buf, literals);
    let tag: string | null = null;
    try {
      const t = c.astringAtom();
      if (!validTag(t)) throw new ImapSyntaxError(t.length === 0 ? "Missing tag" : "Invalid tag");
      tag = t;
      c.sp();
      let name = c.atom("a command").toUpperCase();
      let uid = false;
      if (name === "UID") {
        uid = true;
        c.sp();
        name = c.atom("a command").toUpperCase();
        if (!UID_COMMANDS.has(name)) throw new ImapSyntaxError(`Unknown UID command ${name.slice(0, 40)}`);
      } else if (!COMMAND_NAMES.has(name)) {
        throw new ImapSyntaxError(`Unknown command ${name.slice(0, 40)}`);
      }
      const args = parseArgs(name as CommandName, c, uid);
      c.expectEnd();
      this.reset();
      return { kind: "command", tag, name, uid, args } as ParsedCommand;
    } catch (e) {
      this.reset();
      // Messages may quote client bytes: keep them on one printable line.
      if (e instanceof ImapSyntaxError) return { kind: "error", tag, status: e.status, code: e.code, message: e.message.replace(/[\x00-\x1f\x7f]/g, "?"), close: false };
      throw e; // a bug, not client input
    }
  }

  private fail(tag: string | null, message: string, status: "BAD" | "NO", code: string | null, close: boolean): ParseError {
    this.reset();
    return { kind: "error", tag, status, code, message, close };
  }
}

/** RFC 9051 §9 tag = 1*<any ASTRING-CHAR except "+"> */
function validTag(t: string): boolean {
  return t.length > 0 && !t.includes("+");
}

/** Finds a literal announcement ending the line, outside any quoted string (RFC 9051 §9
 * literal = "{" number64 ["+"] "}" CRLF; literal8 = "~{" number64 "}" CRLF). */
export function literalAtEnd(line: Buffer): { size: number; nonSync: boolean; binary: boolean; index: number } | null {
  if (line.length < 3 || line[line.length - 1] !== 0x7d) return null;
  // Quote state at the end of the line: literals inside an (unterminated) quote are text.
  let inQuote = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (inQuote) {
      if (ch === 0x5c) i++;
      else if (ch === 0x22) inQuote = false;
    } else if (ch === 0x22) inQuote = true;
  }
  if (inQuote) return null;
  const tail = line.toString("latin1", Math.max(0, line.length - 26));
  const m = LITERAL_AT_END.exec(tail);
  if (!m) return null;
  const size = Number(m[2]);
  if (!Number.isSafeInteger(size)) return { size: Number.MAX_SAFE_INTEGER, nonSync: m[3] === "+", binary: m[1] === "~", index: line.length - m[0].length };
  return { size, nonSync: m[3] === "+", binary: m[1] === "~", index: line.length - m[0].length };
}

/** Convenience: the text of a command argument buffer (UTF-8). */
export function text(b: Buffer): string {
  return utf8(b);
}

/** A client line during AUTHENTICATE (RFC 9051 §6.2.2): "*" cancels; otherwise base64 (an empty
 * line is an empty response). Lines are read with SASL_MAX_RESPONSE_LINE. */
export function parseSaslResponse(line: Buffer): { kind: "cancel" } | { kind: "data"; data: Buffer } | { kind: "error"; message: string } {
  const s = line.toString("latin1").trim();
  if (s === "*") return { kind: "cancel" };
  if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return { kind: "error", message: "Invalid base64 in SASL response" };
  return { kind: "data", data: Buffer.from(s, "base64") };
}

/** True for the line that ends IDLE (RFC 2177 §3: "DONE", case-insensitive). */
export function isIdleDone(line: Buffer): boolean {
  return line.length === 4 && line.toString("latin1").toUpperCase() === "DONE";
}
