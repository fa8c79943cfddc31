// Pure parsing of POP3 command lines (RFC 1939 §3, RFC 2449 §3): no I/O, no session state.
//
// Invariants: the input is one line without its CRLF, already capped at POP3_MAX_COMMAND_LINE by
// the connection's reader; the keyword is returned upper-cased; arguments never contain spaces
// except `rest`, which keeps everything after the keyword and its single separating space (PASS
// treats spaces as part of the password, RFC 1939 §7). Control characters (NUL, CR, ...) are
// refused; 8-bit octets are allowed in arguments only as valid UTF-8 (passwords, user names).

export interface ParsedCommand {
  /** Upper-cased keyword: "USER", "RETR", ... */
  name: string;
  /** Arguments split on runs of spaces. */
  args: string[];
  /** The line after the keyword and one space, verbatim (for PASS). "" when there is none. */
  rest: string;
}

export type ParseResult = { ok: true; command: ParsedCommand } | { ok: false; response: string };

const utf8 = new TextDecoder("utf-8", { fatal: true });

export function parseCommand(line: Buffer): ParseResult {
  if (line.length === 0) return { ok: false, response: "-ERR empty command" };
  for (const b of line) {
    // RFC 1939 §3: keywords and arguments are printable characters separated by SPACE. 8-bit
    // UTF-8 is accepted in arguments (passwords); control characters, TAB included, are refused.
    if (b < 0x20 || b === 0x7f) return { ok: false, response: "-ERR invalid characters in command" };
  }
  let text: string;
  try {
    text = utf8.decode(line);
  } catch {
    return { ok: false, response: "-ERR invalid UTF-8 in command" };
  }
  const sp = text.indexOf(" ");
  const keyword = sp === -1 ? text : text.slice(0, sp);
  // RFC 1939 §3: keywords are three or four characters long; RFC 2449 §3 keeps that for extensions.
  if (!/^[A-Za-z]{3,4}$/.test(keyword)) return { ok: false, response: "-ERR unknown command" };
  const rest = sp === -1 ? "" : text.slice(sp + 1);
  const args = rest.split(" ").filter((a) => a.length > 0);
  return { ok: true, command: { name: keyword.toUpperCase(), args, rest } };
}

/** True for an HTTP request line ("GET / HTTP/1.1", "POST /x HTTP/1.0"): a browser or a
 * cross-protocol attack talking to the POP3 port. The session answers once and closes instead of
 * reading header lines as commands. */
export function looksLikeHttp(cmd: ParsedCommand): boolean {
  return ["GET", "POST", "HEAD", "PUT"].includes(cmd.name) && /\sHTTP\/\d/.test(" " + cmd.rest);
}

/** A message number argument (RFC 1939 §3: "msg"): decimal, no sign, at least 1. Returns null
 * when it is not a well-formed number; the caller checks it against the maildrop. */
export function parseMessageNumber(s: string): number | null {
  if (!/^[0-9]{1,10}$/.test(s)) return null;
  const n = Number(s);
  return n >= 1 ? n : null;
}

/** A non-negative line count (TOP's second argument, RFC 1939 §7). Large values are capped. */
export function parseLineCount(s: string): number | null {
  if (!/^[0-9]{1,20}$/.test(s)) return null;
  return Math.min(Number(s), Number.MAX_SAFE_INTEGER);
}

/** Strict base64 as RFC 5034 §4 requires of client responses ("=" alone is an empty initial
 * response, handled by the caller). Returns null when the text is not base64. */
export function decodeBase64(s: string): Buffer | null {
  if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return null;
  return Buffer.from(s, "base64");
}
