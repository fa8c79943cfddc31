// Pure parsers for SMTP command lines: the verb, MAIL FROM / RCPT TO paths (RFC 5321 §4.1.2 with
// the RFC 6531 SMTPUTF8 extensions) and ESMTP parameters (SIZE, BODY, SMTPUTF8, AUTH).
//
// Invariants:
// - No I/O, no store: every function maps a string to a value or throws SmtpError carrying the
//   reply the client gets.
// - The grammar is strict except where we must see a trick to refuse it: source routes are parsed
//   and returned (so the relay check can refuse them), and a trailing dot on a domain is accepted
//   and flagged (trailingDot) for the same reason. Anything else off-grammar is a syntax error.
// - Lengths are bounded (RFC 5321 §4.5.3.1): local part 64, domain 255, path 256 octets.
// - Non-ASCII is only accepted when the caller says SMTPUTF8 is in force (RFC 6531 §3.3).

import { isIPv4, isIPv6 } from "node:net";
import { SmtpError, reply } from "./reply.js";

export interface Command {
  /** Upper-cased verb ("MAIL"). */
  verb: string;
  /** Everything after the verb and its space, trailing spaces removed. */
  args: string;
}

/** RFC 5321 §4.1.1: verb, then optionally one SP and arguments. Verbs are case-insensitive. */
export function parseCommandLine(line: string): Command {
  const m = /^([A-Za-z]{1,16})(?:[ \t]+(.*?))?[ \t]*$/s.exec(line);
  if (!m) throw new SmtpError(reply(500, "5.5.2", "Syntax error, command unrecognized"));
  return { verb: m[1]!.toUpperCase(), args: m[2] ?? "" };
}

export type DomainPart =
  | { kind: "name"; name: string; trailingDot: boolean }
  | { kind: "literal"; text: string; ip: string | null };

export interface Mailbox {
  /** The local part with quoting removed ("a b" for "\"a b\""). Case preserved. */
  local: string;
  /** The local part was written as a quoted string. */
  quoted: boolean;
  domain: DomainPart;
}

export interface Path {
  /** RFC 5321 §4.1.1.3 source route ("@a,@b:"), as the list of domains; empty when absent. */
  route: string[];
  mailbox: Mailbox;
  /** true when the address contains non-ASCII characters (RFC 6531). */
  utf8: boolean;
}

type Role = "sender" | "recipient";

/** RFC 3463: X.1.7 is a bad sender address, X.1.3 a bad recipient address. */
function badAddress(role: Role, text: string): SmtpError {
  return new SmtpError(reply(501, role === "sender" ? "5.1.7" : "5.1.3", text));
}

// RFC 5322 §3.2.3 atext, as used by RFC 5321 Atom.
const ATEXT = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]$/;
const NON_ASCII = /[^\x00-\x7f]/;

function isAtext(ch: string, utf8: boolean): boolean {
  return ATEXT.test(ch) || (utf8 && ch.codePointAt(0)! >= 0x80);
}

/** RFC 5321 §4.1.2 Dot-string = Atom *("." Atom). */
export function isDotString(s: string, utf8: boolean): boolean {
  if (s.length === 0) return false;
  for (const atom of s.split(".")) {
    if (atom.length === 0) return false;
    for (const ch of atom) if (!isAtext(ch, utf8)) return false;
  }
  return true;
}

/** Reads a Quoted-string starting at s[start] === '"'. Returns the unquoted value and the index
 * after the closing quote, or null when it is not a valid RFC 5321 Quoted-string. */
function readQuoted(s: string, start: number, utf8: boolean): { value: string; end: number } | null {
  let value = "";
  let i = start + 1;
  while (i < s.length) {
    const ch = s[i]!;
    if (ch === '"') return { value, end: i + 1 };
    if (ch === "\\") {
      // RFC 5321 §4.1.2 quoted-pairSMTP = %d92 %d32-126
      const next = s[i + 1];
      if (next === undefined) return null;
      const c = next.charCodeAt(0);
      if (c < 32 || c > 126) return null;
      value += next;
      i += 2;
      continue;
    }
    const c = ch.codePointAt(0)!;
    // qtextSMTP = %d32-33 / %d35-91 / %d93-126, plus UTF8-non-ascii (RFC 6531 §3.3)
    if ((c >= 32 && c <= 126) || (utf8 && c >= 0x80)) {
      value += ch;
      i += ch.length;
      continue;
    }
    return null;
  }
  return null;
}

/** RFC 5321 §4.1.2 Domain (sub-domain = Let-dig [Ldh-str]; RFC 6531 adds U-labels). A trailing
 * dot is accepted and flagged. Returns null when not a domain. */
export function parseDomainName(s: string, utf8: boolean): { name: string; trailingDot: boolean } | null {
  let name = s;
  let trailingDot = false;
  if (name.endsWith(".") && name.length > 1) {
    name = name.slice(0, -1);
    trailingDot = true;
  }
  if (name.length === 0 || Buffer.byteLength(name) > 255) return null;
  for (const label of name.split(".")) {
    if (label.length === 0 || label.length > 63) return null;
    const nonAscii = NON_ASCII.test(label);
    if (nonAscii) {
      if (!utf8) return null;
      // A U-label: letters, digits, hyphens and non-ASCII; no leading/trailing hyphen.
      if (!/^[^\x00-\x2c\x2e\x2f\x3a-\x40\x5b-\x60\x7b-\x7f]+$/u.test(label)) return null;
      if (label.startsWith("-") || label.endsWith("-")) return null;
    } else if (!/^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/.test(label)) {
      return null;
    }
  }
  return { name, trailingDot };
}

/** RFC 5321 §4.1.3 address literals: [1.2.3.4], [IPv6:...], [tag:general]. */
export function parseAddressLiteral(s: string): { text: string; ip: string | null } | null {
  if (!s.startsWith("[") || !s.endsWith("]")) return null;
  const inner = s.slice(1, -1);
  if (isIPv4(inner)) return { text: s, ip: inner };
  const m = /^([A-Za-z0-9-]*[A-Za-z0-9]):(.+)$/.exec(inner);
  if (!m) return null;
  if (m[1]!.toLowerCase() === "ipv6") return isIPv6(m[2]!) ? { text: s, ip: m[2]! } : null;
  // General-address-literal: dcontent = %d33-90 / %d94-126
  return /^[\x21-\x5a\x5e-\x7e]+$/.test(m[2]!) ? { text: s, ip: null } : null;
}

/** RFC 5321 §4.1.2 Mailbox = Local-part "@" ( Domain / address-literal ). */
export function parseMailbox(s: string, o: { utf8: boolean; role: Role }): Mailbox {
  let local: string;
  let quoted = false;
  let rest: string;
  if (s.startsWith('"')) {
    const q = readQuoted(s, 0, o.utf8);
    if (!q) throw badAddress(o.role, "Bad address syntax: unterminated or invalid quoted local part");
    local = q.value;
    quoted = true;
    rest = s.slice(q.end);
  } else {
    const at = s.indexOf("@");
    if (at === -1) throw badAddress(o.role, "Bad address syntax: no domain");
    local = s.slice(0, at);
    rest = s.slice(at);
    if (!isDotString(local, o.utf8)) {
      if (!o.utf8 && NON_ASCII.test(local)) throw nonAsciiWithoutSmtputf8();
      throw badAddress(o.role, "Bad address syntax in local part");
    }
  }
  if (!rest.startsWith("@")) throw badAddress(o.role, "Bad address syntax: no domain");
  const domainText = rest.slice(1);
  if (Buffer.byteLength(local) > 64) throw badAddress(o.role, "Local part too long"); // RFC 5321 §4.5.3.1.1
  if (domainText.includes("@")) throw new MultipleAtError(o.role);
  let domain: DomainPart;
  if (domainText.startsWith("[")) {
    const lit = parseAddressLiteral(domainText);
    if (!lit) throw badAddress(o.role, "Bad address literal");
    domain = { kind: "literal", text: lit.text, ip: lit.ip };
  } else {
    const d = parseDomainName(domainText, o.utf8);
    if (!d) {
      if (!o.utf8 && NON_ASCII.test(domainText)) throw nonAsciiWithoutSmtputf8();
      throw badAddress(o.role, "Bad domain syntax");
    }
    domain = { kind: "name", name: d.name, trailingDot: d.trailingDot };
  }
  return { local, quoted, domain };
}

/** A mailbox with more than one unquoted "@" ("user@other@ourdomain"): off-grammar, and the
 * relay check wants to know it was this rather than some other syntax error. */
export class MultipleAtError extends SmtpError {
  constructor(role: Role) {
    super(reply(501, role === "sender" ? "5.1.7" : "5.1.3", "Bad address syntax: more than one @"));
    this.name = "MultipleAtError";
  }
}

/** RFC 6531 §3.7.4.1: non-ASCII address without SMTPUTF8. */
export function nonAsciiWithoutSmtputf8(): SmtpError {
  return new SmtpError(reply(553, "5.6.7", "Non-ASCII address requires SMTPUTF8"));
}

/** Splits "<path> params" into the text between the angle brackets and the parameter string.
 * Quoted strings may contain ">" (RFC 5321 §4.1.2). */
export function splitPath(args: string, role: Role): { path: string; params: string } {
  const s = args.replace(/^[ \t]+/, ""); // "MAIL FROM: <a@b>" is common; RFC 5321 has no space
  if (!s.startsWith("<")) throw badAddress(role, "Syntax: address must be in angle brackets");
  let i = 1;
  let inQuote = false;
  for (; i < s.length; i++) {
    const ch = s[i]!;
    if (inQuote) {
      if (ch === "\\") i++;
      else if (ch === '"') inQuote = false;
    } else if (ch === '"') inQuote = true;
    else if (ch === ">") break;
    else if (ch === "<") throw badAddress(role, "Syntax: unexpected <");
  }
  if (i >= s.length) throw badAddress(role, "Syntax: missing >");
  const path = s.slice(1, i);
  const rest = s.slice(i + 1);
  if (rest !== "" && !/^[ \t]/.test(rest)) throw badAddress(role, "Syntax: junk after address");
  return { path, params: rest.trim() };
}

/** Parses the text between "<" and ">" (not "<>"): [A-d-l ":"] Mailbox. */
export function parsePath(path: string, o: { utf8: boolean; role: Role }): Path {
  if (Buffer.byteLength(path) > 254) throw badAddress(o.role, "Path too long"); // RFC 5321 §4.5.3.1.3 (256 with <>)
  let rest = path;
  const route: string[] = [];
  if (rest.startsWith("@")) {
    // RFC 5321 §4.1.1.3 / Appendix C: source routes; parsed so that they can be refused.
    const colon = rest.indexOf(":");
    if (colon === -1) throw badAddress(o.role, "Bad source route");
    for (const hop of rest.slice(0, colon).split(",")) {
      const d = hop.startsWith("@") ? parseDomainName(hop.slice(1), o.utf8) : null;
      if (!d) throw badAddress(o.role, "Bad source route");
      route.push(d.name);
    }
    rest = rest.slice(colon + 1);
  }
  const mailbox = parseMailbox(rest, o);
  return { route, mailbox, utf8: NON_ASCII.test(path) };
}

/** RFC 5321 §4.1.2: esmtp-param *(SP esmtp-param). Keywords upper-cased; duplicates refused. */
export function parseParams(s: string, utf8: boolean): Map<string, string | null> {
  const out = new Map<string, string | null>();
  if (s.trim() === "") return out;
  for (const p of s.trim().split(/[ \t]+/)) {
    const eq = p.indexOf("=");
    const key = (eq === -1 ? p : p.slice(0, eq)).toUpperCase();
    const value = eq === -1 ? null : p.slice(eq + 1);
    if (!/^[A-Z0-9][A-Z0-9-]*$/.test(key)) throw new SmtpError(reply(501, "5.5.4", `Bad parameter syntax`));
    // esmtp-value = 1*(%d33-60 / %d62-126), RFC 6531 §3.3 adds UTF8-non-ascii
    if (value !== null) {
      const ok = utf8 ? /^[^\x00-\x20=\x7f]+$/.test(value) : /^[\x21-\x3c\x3e-\x7e]+$/.test(value);
      if (!ok) throw new SmtpError(reply(501, "5.5.4", `Bad value for parameter ${key}`));
    }
    // A repeated parameter with the same value is harmless (Python's smtplib can send
    // "SMTPUTF8" twice); a conflicting one is refused.
    if (out.has(key) && out.get(key) !== value) throw new SmtpError(reply(501, "5.5.4", `Conflicting parameter ${key}`));
    out.set(key, value);
  }
  return out;
}

/** RFC 3461 §4 xtext: "+" HEXCHAR HEXCHAR encodes one octet. */
export function decodeXtext(s: string): string | null {
  if (!/^(?:[\x21-\x2a\x2c-\x3c\x3e-\x7e]|\+[0-9A-F]{2})*$/.test(s)) return null;
  return s.replace(/\+([0-9A-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
}

export type BodyType = "7BIT" | "8BITMIME" | "BINARYMIME";

export interface MailFrom {
  /** null for the null reverse-path "<>". */
  path: Path | null;
  /** RFC 1870 SIZE=, when given. */
  size: number | null;
  /** RFC 6152 / RFC 3030 BODY=. */
  body: BodyType;
  /** RFC 6531 SMTPUTF8. */
  smtputf8: boolean;
  /** RFC 4954 §5 AUTH= (decoded); informational only. */
  auth: string | null;
}

/** "MAIL FROM:<reverse-path> [params]" — `args` is everything after "MAIL ". */
export function parseMailFrom(args: string): MailFrom {
  const m = /^FROM:/i.exec(args);
  if (!m) throw new SmtpError(reply(501, "5.5.4", "Syntax: MAIL FROM:<address>"));
  const { path, params: paramText } = splitPath(args.slice(m[0].length), "sender");
  const params = parseParams(paramText, true);
  let size: number | null = null;
  let body: BodyType = "7BIT";
  let smtputf8 = false;
  let auth: string | null = null;
  for (const [key, value] of params) {
    switch (key) {
      case "SIZE": // RFC 1870 §3: size-value = 1*20DIGIT
        if (value === null || !/^\d{1,20}$/.test(value)) throw new SmtpError(reply(501, "5.5.4", "Bad SIZE value"));
        size = Number(value);
        break;
      case "BODY": {
        const v = value?.toUpperCase();
        if (v !== "7BIT" && v !== "8BITMIME" && v !== "BINARYMIME") throw new SmtpError(reply(501, "5.5.4", "Bad BODY value"));
        body = v;
        break;
      }
      case "SMTPUTF8": // RFC 6531 §3.4: no value
        if (value !== null) throw new SmtpError(reply(501, "5.5.4", "SMTPUTF8 takes no value"));
        smtputf8 = true;
        break;
      case "AUTH": {
        const decoded = value === null ? null : decodeXtext(value);
        if (decoded === null) throw new SmtpError(reply(501, "5.5.4", "Bad AUTH value"));
        auth = decoded;
        break;
      }
      default: // RFC 5321 §4.1.1.11
        throw new SmtpError(reply(555, "5.5.4", `Unsupported parameter ${key}`));
    }
  }
  if (!smtputf8 && /[^\x00-\x7f]/.test(args)) throw nonAsciiWithoutSmtputf8();
  if (path === "") return { path: null, size, body, smtputf8, auth };
  return { path: parsePath(path, { utf8: smtputf8, role: "sender" }), size, body, smtputf8, auth };
}

export interface RcptTo {
  /** The raw text between the angle brackets (for the relay check and the logs). */
  raw: string;
  /** RFC 5321 §4.1.1.3: "RCPT TO:<Postmaster>" without a domain. */
  postmaster: boolean;
}

/** "RCPT TO:<forward-path> [params]". Only splits; the path is parsed by the relay check, which
 * needs to see the tricks that a strict parse would only call syntax errors. No RCPT parameters
 * are advertised (no DSN), so any is refused (RFC 5321 §4.1.1.11). */
export function parseRcptTo(args: string): RcptTo {
  const m = /^TO:/i.exec(args);
  if (!m) throw new SmtpError(reply(501, "5.5.4", "Syntax: RCPT TO:<address>"));
  const { path, params } = splitPath(args.slice(m[0].length), "recipient");
  if (params !== "") {
    const parsed = parseParams(params, true);
    throw new SmtpError(reply(555, "5.5.4", `Unsupported parameter ${[...parsed.keys()][0] ?? ""}`));
  }
  if (path === "") throw new SmtpError(reply(501, "5.1.3", "Empty recipient address"));
  return { raw: path, postmaster: path.toLowerCase() === "postmaster" };
}

/** The address as text: local part re-quoted only when it is not a dot-string. */
export function formatMailbox(m: Mailbox): string {
  const local = isDotString(m.local, true) ? m.local : `"${m.local.replace(/(["\\])/g, "\\$1")}"`;
  const domain = m.domain.kind === "name" ? m.domain.name + (m.domain.trailingDot ? "." : "") : m.domain.text;
  return `${local}@${domain}`;
}

/** EHLO/HELO argument (RFC 5321 §4.1.1.1: Domain or address-literal). We accept what real
 * clients send (names with "_", bare IPs), as long as it is one printable token that cannot break
 * the Received: header we put it in. */
export function parseHeloArg(args: string): string {
  const name = args.trim();
  if (name === "") throw new SmtpError(reply(501, "5.5.4", "Syntax: EHLO hostname"));
  // ASCII only: RFC 6531 §3.7.1 keeps the EHLO argument in A-labels, and it goes into Received:.
  if (name.length > 255 || !/^[\x21-\x7e]+$/.test(name) || /[()<>;\\"]/.test(name)) {
    throw new SmtpError(reply(501, "5.5.4", "Invalid EHLO/HELO argument"));
  }
  return name;
}
