// Pure parsing of a message's header section, as much as SMTP needs: the fields (unfolded), how
// many Received: fields there are (loop detection, RFC 5321 §6.3) and the addresses in From:
// (sender binding on submission, RFC 5322 §3.6.2 / §3.4).
//
// Invariants:
// - No I/O; input is the header block exactly as received (CRLF line ends, up to the blank line).
// - The From: parser returns every addr-spec the field names, or null when it cannot be sure what
//   the field says; callers refuse on null rather than guess (a spoofer's best friend is a
//   parser that shrugs).

import { isDotString } from "./parse.js";
import { skipComment } from "../mime/rfc5322.js";

export interface HeaderField {
  /** As written; compare case-insensitively. */
  name: string;
  /** Unfolded (RFC 5322 §2.2.3), without the leading space. */
  value: string;
}

/** Splits a header block into fields. Lines that are neither a field nor a continuation are
 * reported in `malformed` (RFC 5322 §2.2: field-name = 1*ftext, ftext = %d33-57 / %d59-126). */
export function parseHeaderFields(block: Buffer): { fields: HeaderField[]; malformed: number } {
  const text = block.toString("utf8");
  const lines = text.split(/\r?\n/);
  const fields: HeaderField[] = [];
  let malformed = 0;
  for (const line of lines) {
    if (line === "") continue;
    if (line[0] === " " || line[0] === "\t") {
      const last = fields[fields.length - 1];
      if (last) last.value += line;
      else malformed++;
      continue;
    }
    const m = /^([\x21-\x39\x3b-\x7e]+)[ \t]*:(.*)$/s.exec(line);
    if (!m) {
      malformed++;
      continue;
    }
    fields.push({ name: m[1]!, value: m[2]!.replace(/^[ \t]+/, "") });
  }
  return { fields, malformed };
}

export function countFields(fields: HeaderField[], name: string): number {
  const n = name.toLowerCase();
  return fields.filter((f) => f.name.toLowerCase() === n).length;
}

/** The addr-specs in an RFC 5322 address-list / mailbox-list (From:, Sender:, To:), in order.
 * Handles display names, quoted strings, comments (nested), angle addresses (with obsolete
 * routes) and groups. Returns null when the field is not a well-formed list of addresses. */
export function parseAddressList(value: string): string[] | null {
  const out: string[] = [];
  let plain = ""; // the current mailbox outside <>, comments removed, quoted strings kept
  let angle: string | null = null; // contents of <...> once seen
  let afterAngle = false;
  let inGroup = false;
  let i = 0;

  const finish = (): boolean => {
    const text = plain.trim();
    if (angle !== null) {
      let addr = angle.trim();
      const route = /^@[^:]*:/.exec(addr); // RFC 5322 §4.4 obs-route: ignored
      if (route) addr = addr.slice(route[0].length);
      if (!isAddrSpec(addr)) return false;
      out.push(addr);
    } else if (text !== "") {
      const addr = text.replace(/\s*\.\s*/g, ".").replace(/\s*@\s*/g, "@");
      if (!isAddrSpec(addr)) return false;
      out.push(addr);
    }
    plain = "";
    angle = null;
    afterAngle = false;
    return true;
  };

  while (i < value.length) {
    const ch = value[i]!;
    if (ch === '"') {
      if (afterAngle) return null;
      const start = i;
      i++;
      while (i < value.length && value[i] !== '"') i += value[i] === "\\" ? 2 : 1;
      if (i >= value.length) return null;
      i++;
      plain += value.slice(start, i);
      continue;
    }
    if (ch === "(") {
      i = skipComment(value, i);
      if (i < 0) return null;
      plain += " ";
      continue;
    }
    if (ch === "<") {
      if (angle !== null || afterAngle) return null;
      const end = value.indexOf(">", i);
      if (end === -1) return null;
      angle = value.slice(i + 1, end);
      afterAngle = true;
      i = end + 1;
      continue;
    }
    if (ch === ">") return null;
    if (ch === ":" && angle === null) {
      // RFC 5322 §3.4 group: display-name ":" [group-list] ";"
      if (inGroup) return null;
      inGroup = true;
      plain = "";
      i++;
      continue;
    }
    if (ch === ";") {
      if (!inGroup || !finish()) return null;
      inGroup = false;
      i++;
      continue;
    }
    if (ch === ",") {
      if (!finish()) return null;
      i++;
      continue;
    }
    if (afterAngle && !/\s/.test(ch)) return null; // text after <addr> in the same mailbox
    plain += ch;
    i++;
  }
  if (inGroup || !finish()) return null;
  return out;
}

/** local "@" domain, with a dot-atom or quoted local part and a dot-atom domain. */
function isAddrSpec(addr: string): boolean {
  const at = addr.lastIndexOf("@");
  if (at <= 0) return false;
  const local = addr.slice(0, at);
  const domain = addr.slice(at + 1);
  const localOk = isDotString(local, true) || /^"(?:[^"\\\r\n]|\\.)*"$/.test(local);
  return localOk && isDotString(domain, true) && !/[^\p{L}\p{N}.-]/u.test(domain);
}

/** Normalises an addr-spec from a header for comparison with account addresses: unquotes a quoted
 * local part and lower-cases everything. */
export function normalizeHeaderAddress(addr: string): string {
  const at = addr.lastIndexOf("@");
  let local = addr.slice(0, at);
  if (local.startsWith('"')) local = local.slice(1, -1).replace(/\\(.)/g, "$1");
  return `${local}@${addr.slice(at + 1)}`.toLowerCase();
}
