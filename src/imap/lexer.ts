// The token level of IMAP command syntax (RFC 9051 §9): a cursor over one complete command in wire
// form (lines joined by CRLF, literals inline), used by the command parser and the SEARCH parser.
//
// Invariants:
// - Pure: no I/O; every failure is an ImapSyntaxError whose message is safe to send in a BAD.
// - A literal is only recognised where the command parser recorded one (the end of a received
//   line); "{5}" typed in the middle of a line is a syntax error, never a literal, so a client
//   cannot make the cursor skip bytes that were not sent as a literal.
// - Quoted strings refuse CR, LF and NUL and accept only \\ and \" escapes (RFC 9051 §9
//   QUOTED-CHAR); 8-bit octets are accepted inside quotes (UTF-8, RFC 9051 §4.3 / RFC 6855).

/** An error in client input, carrying the response it becomes: BAD for syntax (the default), or
 * NO with a response code where the RFC says so (e.g. SEARCH with an unknown charset answers
 * NO [BADCHARSET], RFC 9051 §6.4.4). */
export class ImapSyntaxError extends Error {
  constructor(
    message: string,
    readonly status: "BAD" | "NO" = "BAD",
    /** Response code without brackets, e.g. "BADCHARSET (US-ASCII UTF-8)" or "TOOBIG". */
    readonly code: string | null = null,
  ) {
    super(message);
    this.name = "ImapSyntaxError";
  }
}

/** An APPEND message the session streamed to a file instead of handing it to the parser. */
export interface ExternalLiteral {
  path: string;
  size: number;
}

/** Where a literal sits in the command buffer. */
export interface LiteralSlot {
  /** Octets announced. */
  size: number;
  /** Index in the buffer of the first data octet (after `{n}\r\n`). */
  dataStart: number;
  binary: boolean;
  /** Set when the data is not in the buffer (an APPEND message streamed elsewhere). */
  external: ExternalLiteral | null;
}

/** A string argument as sent: bytes, plus whether it came as a literal8 (RFC 3516). */
export interface LiteralValue {
  data: Buffer | ExternalLiteral;
  binary: boolean;
}

const SP = 0x20;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;

/** RFC 9051 §9 ATOM-CHAR: any CHAR except atom-specials. */
export function isAtomChar(c: number): boolean {
  if (c <= 0x1f || c >= 0x7f) return false; // CTL and 8-bit
  return !(c === 0x28 || c === 0x29 || c === 0x7b || c === SP || c === 0x25 || c === 0x2a || c === DQUOTE || c === BACKSLASH || c === 0x5d);
}

/** RFC 9051 §9 ASTRING-CHAR = ATOM-CHAR / resp-specials ("]"). */
export function isAstringChar(c: number): boolean {
  return isAtomChar(c) || c === 0x5d;
}

/** RFC 9051 §9 list-char = ATOM-CHAR / list-wildcards / resp-specials. */
function isListChar(c: number): boolean {
  return isAstringChar(c) || c === 0x25 || c === 0x2a;
}

export class Cursor {
  pos = 0;

  constructor(
    readonly buf: Buffer,
    private readonly literals: ReadonlyMap<number, LiteralSlot> = new Map(),
  ) {}

  atEnd(): boolean {
    return this.pos >= this.buf.length;
  }

  peek(): number {
    return this.pos < this.buf.length ? this.buf[this.pos]! : -1;
  }

  /** Fails unless the whole command has been consumed. */
  expectEnd(): void {
    if (!this.atEnd()) throw new ImapSyntaxError("Unexpected extra arguments");
  }

  /** Consumes exactly one SP (RFC 9051 §9: arguments are separated by a single space). */
  sp(): void {
    if (this.peek() !== SP) throw new ImapSyntaxError(this.atEnd() ? "Missing argument" : "Expected a space");
    this.pos++;
  }

  trySp(): boolean {
    if (this.peek() === SP) {
      this.pos++;
      return true;
    }
    return false;
  }

  char(c: string): void {
    if (this.peek() !== c.charCodeAt(0)) throw new ImapSyntaxError(`Expected "${c}"`);
    this.pos++;
  }

  tryChar(c: string): boolean {
    if (this.peek() === c.charCodeAt(0)) {
      this.pos++;
      return true;
    }
    return false;
  }

  /** Consumes `word` case-insensitively when it is next and is followed by a non-atom char. */
  tryWord(word: string): boolean {
    const n = word.length;
    if (this.pos + n > this.buf.length) return false;
    if (this.buf.toString("latin1", this.pos, this.pos + n).toUpperCase() !== word) return false;
    const after = this.buf[this.pos + n];
    if (after !== undefined && isAtomChar(after)) return false;
    this.pos += n;
    return true;
  }

  /** Consumes `prefix` case-insensitively when it is next (no boundary check). */
  tryPrefix(prefix: string): boolean {
    const n = prefix.length;
    if (this.pos + n > this.buf.length) return false;
    if (this.buf.toString("latin1", this.pos, this.pos + n).toUpperCase() !== prefix) return false;
    this.pos += n;
    return true;
  }

  private run(pred: (c: number) => boolean): string {
    const start = this.pos;
    while (this.pos < this.buf.length && pred(this.buf[this.pos]!)) this.pos++;
    return this.buf.toString("latin1", start, this.pos);
  }

  /** RFC 9051 §9 atom = 1*ATOM-CHAR. */
  atom(what = "atom"): string {
    const s = this.run(isAtomChar);
    if (s.length === 0) throw new ImapSyntaxError(`Expected ${what}`);
    return s;
  }

  /** An atom that may contain "]" (ASTRING-CHAR), e.g. a tag-like token. */
  astringAtom(): string {
    return this.run(isAstringChar);
  }

  /** A run of sequence-set characters (digits, ":", ",", "*", "$"). */
  sequenceToken(): string {
    const s = this.run((c) => (c >= 0x30 && c <= 0x39) || c === 0x3a || c === 0x2c || c === 0x2a || c === 0x24);
    if (s.length === 0) throw new ImapSyntaxError("Expected a sequence set");
    return s;
  }

  /** RFC 9051 §9 number: 32-bit unsigned. */
  number(max = 4294967295): number {
    const s = this.run((c) => c >= 0x30 && c <= 0x39);
    if (s.length === 0) throw new ImapSyntaxError("Expected a number");
    if (s.length > 20) throw new ImapSyntaxError("Number too large");
    const n = Number(s);
    if (n > max) throw new ImapSyntaxError("Number too large");
    return n;
  }

  nzNumber(): number {
    const n = this.number();
    if (n === 0) throw new ImapSyntaxError("Expected a non-zero number");
    return n;
  }

  /** RFC 7162 §7 mod-sequence-value: up to 2^63-1. Values above 2^53 lose precision as JS
   * numbers; that is harmless, since they only ever compare against MODSEQs we assigned, which
   * stay far below 2^53. */
  modseq(allowZero: boolean): number {
    const start = this.pos;
    const n = this.number(Number.POSITIVE_INFINITY);
    const digits = this.buf.toString("latin1", start, this.pos).replace(/^0+/, "");
    if (digits.length > 19 || (digits.length === 19 && digits > "9223372036854775807")) throw new ImapSyntaxError("Mod-sequence too large");
    if (n === 0 && !allowZero) throw new ImapSyntaxError("Expected a non-zero mod-sequence");
    return n;
  }

  /** True when a string (quoted or literal) starts here. */
  atString(): boolean {
    const c = this.peek();
    return c === DQUOTE || this.literals.has(this.pos);
  }

  /** RFC 9051 §9 string = quoted / literal. Literal data is returned as recorded. */
  stringValue(): LiteralValue {
    if (this.peek() === DQUOTE) return { data: this.quoted(), binary: false };
    const slot = this.literals.get(this.pos);
    if (!slot) {
      if (this.peek() === 0x7b || this.peek() === 0x7e) throw new ImapSyntaxError("Literal must end the line");
      throw new ImapSyntaxError("Expected a string");
    }
    this.pos = slot.dataStart + (slot.external ? 0 : slot.size);
    if (slot.external) return { data: slot.external, binary: slot.binary };
    return { data: this.buf.subarray(slot.dataStart, slot.dataStart + slot.size), binary: slot.binary };
  }

  /** A string whose data must be in memory (everything but an APPEND message). */
  string(): Buffer {
    const v = this.stringValue();
    if (!Buffer.isBuffer(v.data)) throw new ImapSyntaxError("Unexpected message literal");
    if (v.binary) throw new ImapSyntaxError("literal8 is only allowed for message data"); // RFC 3516 §4.3
    if (v.data.includes(0)) throw new ImapSyntaxError("NUL in string"); // RFC 9051 §4.3: literal is 8-bit, no NUL
    return v.data;
  }

  private quoted(): Buffer {
    this.pos++; // opening quote
    const out: number[] = [];
    for (;;) {
      if (this.pos >= this.buf.length) throw new ImapSyntaxError("Unterminated quoted string");
      const c = this.buf[this.pos++]!;
      if (c === DQUOTE) break;
      if (c === 0 || c === 0x0d || c === 0x0a) throw new ImapSyntaxError("Invalid character in quoted string");
      if (c === BACKSLASH) {
        const e = this.buf[this.pos++];
        if (e !== DQUOTE && e !== BACKSLASH) throw new ImapSyntaxError("Invalid escape in quoted string"); // RFC 9051 §9 quoted-specials
        out.push(e);
        continue;
      }
      // 8-bit inside quotes: only a literal CR/LF would sit here; any literal announcement inside
      // quotes is plain text, because slots are only recorded outside quotes.
      out.push(c);
    }
    return Buffer.from(out);
  }

  /** RFC 9051 §9 astring = 1*ASTRING-CHAR / string, decoded as UTF-8. */
  astring(what = "string"): string {
    if (this.atString()) return utf8(this.string());
    const s = this.astringAtom();
    if (s.length === 0) throw new ImapSyntaxError(`Expected ${what}`);
    return s;
  }

  /** RFC 9051 §9 nstring = string / nil. */
  nstring(): string | null {
    if (this.tryWord("NIL")) return null;
    return utf8(this.string());
  }

  /** RFC 9051 §9 list-mailbox = 1*list-char / string. */
  listMailbox(): string {
    if (this.atString()) return utf8(this.string());
    const s = this.run(isListChar);
    if (s.length === 0) throw new ImapSyntaxError("Expected a mailbox pattern");
    return s;
  }

  /** Parses "(" item *(SP item) ")" (or "()" when `allowEmpty`). */
  list<T>(item: () => T, allowEmpty = true): T[] {
    this.char("(");
    const out: T[] = [];
    if (this.tryChar(")")) {
      if (!allowEmpty) throw new ImapSyntaxError("Empty list");
      return out;
    }
    for (;;) {
      out.push(item());
      if (this.tryChar(")")) return out;
      this.sp();
    }
  }
}

/** Decodes client text as UTF-8; invalid sequences become U+FFFD (they can never match). */
export function utf8(b: Buffer): string {
  return b.toString("utf8");
}
