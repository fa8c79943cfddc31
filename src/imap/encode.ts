// IMAP response string encoding, mailbox-name encodings and date-time formats (pure, no I/O).
//
// Invariants:
// - Every string this module emits is valid IMAP syntax for both IMAP4rev1 and IMAP4rev2: a value
//   is sent quoted only when it is short, 7-bit and free of CR, LF and NUL; anything else is sent
//   as a literal `{n}\r\n...` whose n counts UTF-8 octets (RFC 9051 §4.3).
// - Modified UTF-7 (RFC 3501 §5.1.3) encoding and decoding are exact inverses for every string
//   without lone surrogates; decoding refuses (returns null) every non-canonical form.
// - Date-times are emitted as RFC 9051 §9 `date-time` ("dd-Mon-yyyy hh:mm:ss +zzzz", day padded
//   with a space) and parsed strictly; out-of-range values are refused, never wrapped.

/** Longest value we send as a quoted string; longer ones go as literals (RFC 9051 §4.3). */
export const MAX_QUOTED = 1024;

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** True when `s` may be sent as an IMAP quoted string: 7-bit, no CR/LF/NUL (RFC 9051 §9 QUOTED-CHAR). */
export function isQuotable(s: string): boolean {
  if (s.length > MAX_QUOTED) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0 || c === 0x0a || c === 0x0d || c > 0x7e) return false;
  }
  return true;
}

/** A quoted string; the caller guarantees isQuotable(s). `"` and `\` are escaped (RFC 9051 §4.3). */
export function quoted(s: string): string {
  return '"' + s.replace(/[\\"]/g, (m) => "\\" + m) + '"';
}

/** A synchronising literal (server to client): `{n}\r\n` followed by the UTF-8 octets. */
export function literal(s: string | Buffer): string {
  const n = typeof s === "string" ? Buffer.byteLength(s, "utf8") : s.length;
  return `{${n}}\r\n${typeof s === "string" ? s : s.toString("utf8")}`;
}

/** `string` of RFC 9051 §9: quoted when safe, otherwise a literal. */
export function imapString(s: string): string {
  return isQuotable(s) ? quoted(s) : literal(s);
}

/** `nstring`: NIL for null. */
export function nstring(s: string | null | undefined): string {
  return s === null || s === undefined ? "NIL" : imapString(s);
}

const ATOM_SPECIALS = /[(){ %*"\\\]\x00-\x1f\x7f-\uffff]/;

/** `astring`: an atom when every character is an ASTRING-CHAR and the value is not "NIL",
 * otherwise a string (RFC 9051 §9). */
export function astring(s: string): string {
  if (s.length > 0 && s.length <= MAX_QUOTED && !/[(){ %*"\\\x00-\x1f\x7f-\uffff]/.test(s) && s.toUpperCase() !== "NIL") return s;
  return imapString(s);
}

/** True when `s` is an atom (1*ATOM-CHAR, RFC 9051 §9). */
export function isAtom(s: string): boolean {
  return s.length > 0 && !ATOM_SPECIALS.test(s);
}

/** A status response line (RFC 9051 §7.1): `tag OK [CODE] text\r\n`, or untagged with tag null.
 * CR, LF and NUL in the text are replaced, so client data echoed in a message cannot inject a
 * response line. */
export function statusLine(tag: string | null, status: "OK" | "NO" | "BAD" | "BYE" | "PREAUTH", code: string | null, text: string): string {
  const clean = text.replace(/[\r\n\x00]/g, " ") || status;
  return `${tag ?? "*"} ${status} ${code ? `[${code}] ` : ""}${clean}\r\n`;
}

// ---------------------------------------------------------------------------------------------
// Modified UTF-7, RFC 3501 §5.1.3

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/** Encodes a mailbox name (UTF-8 string) in modified UTF-7 for IMAP4rev1 clients. */
export function encodeMailboxUtf7(name: string): string {
  let out = "";
  let i = 0;
  while (i < name.length) {
    const c = name.charCodeAt(i);
    if (c >= 0x20 && c <= 0x7e) {
      out += c === 0x26 ? "&-" : name[i]; // RFC 3501 §5.1.3: "&" is represented as "&-"
      i++;
      continue;
    }
    // Collect a run of non-printable characters, encode its UTF-16BE octets in modified BASE64.
    let j = i;
    while (j < name.length && (name.charCodeAt(j) < 0x20 || name.charCodeAt(j) > 0x7e)) j++;
    const bytes: number[] = [];
    for (let k = i; k < j; k++) {
      const u = name.charCodeAt(k);
      bytes.push(u >> 8, u & 0xff);
    }
    out += "&";
    let bits = 0;
    let acc = 0;
    for (const b of bytes) {
      acc = (acc << 8) | b;
      bits += 8;
      while (bits >= 6) {
        bits -= 6;
        out += B64[(acc >> bits) & 0x3f];
      }
      acc &= (1 << bits) - 1;
    }
    if (bits > 0) out += B64[(acc << (6 - bits)) & 0x3f];
    out += "-";
    i = j;
  }
  return out;
}

/** Decodes a modified UTF-7 mailbox name; null when it is not canonical modified UTF-7
 * (8-bit octets, unterminated shifts, printable ASCII inside a shift, padding bits set). */
export function decodeMailboxUtf7(name: string): string | null {
  let out = "";
  let i = 0;
  while (i < name.length) {
    const c = name.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return null; // RFC 3501 §5.1.3: only printable US-ASCII
    if (c !== 0x26) {
      out += name[i];
      i++;
      continue;
    }
    const end = name.indexOf("-", i + 1);
    if (end < 0) return null;
    if (end === i + 1) {
      out += "&";
      i = end + 1;
      continue;
    }
    let acc = 0;
    let bits = 0;
    const units: number[] = [];
    let bytes: number[] = [];
    for (let k = i + 1; k < end; k++) {
      const v = B64.indexOf(name[k]!);
      if (v < 0) return null;
      acc = (acc << 6) | v;
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        bytes.push((acc >> bits) & 0xff);
        acc &= (1 << bits) - 1;
        if (bytes.length === 2) {
          units.push((bytes[0]! << 8) | bytes[1]!);
          bytes = [];
        }
      }
    }
    if (bytes.length !== 0 || acc !== 0 || bits >= 6) return null; // leftover octet or non-zero padding
    const decoded = String.fromCharCode(...units);
    // A shifted run must not hold what could have been written directly.
    for (const u of units) if (u >= 0x20 && u <= 0x7e) return null;
    out += decoded;
    i = end + 1;
  }
  return out;
}

/** The wire form of a mailbox name: UTF-8 as-is for IMAP4rev2 / UTF8=ACCEPT sessions (RFC 9051
 * §5.1), modified UTF-7 for IMAP4rev1 (RFC 3501 §5.1.3). */
export function mailboxToWire(name: string, utf8: boolean): string {
  return astring(utf8 ? name : encodeMailboxUtf7(name));
}

/** Mailbox name from the wire: decodes modified UTF-7 for rev1 (falling back to the raw name when
 * it is not valid mUTF-7, as RFC 9051 §5.1 lets rev2 servers do) and spells INBOX canonically in
 * any case (RFC 9051 §5.1: INBOX is case-insensitive). */
export function mailboxFromWire(raw: string, utf8: boolean): string {
  let name = raw;
  if (!utf8) name = decodeMailboxUtf7(raw) ?? raw;
  if (name.toUpperCase() === "INBOX") return "INBOX";
  if (name.length > 6 && name.slice(0, 6).toUpperCase() === "INBOX/") return "INBOX" + name.slice(5);
  return name;
}

// ---------------------------------------------------------------------------------------------
// Dates

/** RFC 9051 §9 date-time: `dd-Mon-yyyy hh:mm:ss +zzzz` (the day padded with a space), in the
 * given offset from UTC in minutes (default UTC). Returned without the surrounding quotes. */
export function formatDateTime(date: Date, offsetMinutes = 0): string {
  const t = new Date(date.getTime() + offsetMinutes * 60_000);
  const day = t.getUTCDate();
  const dd = day < 10 ? " " + day : String(day);
  const p2 = (n: number) => String(n).padStart(2, "0");
  const sign = offsetMinutes < 0 ? "-" : "+";
  const abs = Math.abs(offsetMinutes);
  return `${dd}-${MONTHS[t.getUTCMonth()]}-${t.getUTCFullYear()} ${p2(t.getUTCHours())}:${p2(t.getUTCMinutes())}:${p2(t.getUTCSeconds())} ${sign}${p2(Math.floor(abs / 60))}${p2(abs % 60)}`;
}

/** Parses RFC 9051 §9 date-time (without quotes). Null when malformed or out of range. */
export function parseDateTime(s: string): Date | null {
  const m = /^( ?\d|\d\d)-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)$/.exec(s);
  if (!m) return null;
  const day = Number(m[1]!.trim());
  const month = monthIndex(m[2]!);
  const year = Number(m[3]);
  const [hh, mi, ss] = [Number(m[4]), Number(m[5]), Number(m[6])];
  const zh = Number(m[8]);
  const zm = Number(m[9]);
  if (month < 0 || !validDay(year, month, day) || hh > 23 || mi > 59 || ss > 60 || zh > 23 || zm > 59) return null;
  const offset = (m[7] === "-" ? -1 : 1) * (zh * 60 + zm);
  return new Date(Date.UTC(year, month, day, hh, mi, Math.min(ss, 59)) - offset * 60_000);
}

/** A calendar day without time or zone (SEARCH dates, RFC 9051 §6.4.4). month is 1..12. */
export interface Day {
  year: number;
  month: number;
  day: number;
}

/** Parses RFC 9051 §9 `date-text` ("1-Feb-1994", "01-Feb-1994"). Null when invalid. */
export function parseSearchDate(s: string): Day | null {
  const m = /^(\d{1,2})-([A-Za-z]{3})-(\d{4})$/.exec(s);
  if (!m) return null;
  const day = Number(m[1]);
  const month = monthIndex(m[2]!);
  const year = Number(m[3]);
  if (month < 0 || !validDay(year, month, day)) return null;
  return { year, month: month + 1, day };
}

/** Orders days: negative when a < b. */
export function compareDays(a: Day, b: Day): number {
  return a.year - b.year || a.month - b.month || a.day - b.day;
}

/** The UTC calendar day of an instant. */
export function dayOf(date: Date): Day {
  return { year: date.getUTCFullYear(), month: date.getUTCMonth() + 1, day: date.getUTCDate() };
}

export function monthIndex(name: string): number {
  const n = name.slice(0, 1).toUpperCase() + name.slice(1).toLowerCase();
  return MONTHS.indexOf(n);
}

function validDay(year: number, month0: number, day: number): boolean {
  if (year < 1 || day < 1) return false;
  const dim = new Date(Date.UTC(year, month0 + 1, 0)).getUTCDate();
  return day <= dim;
}
