// The searchable text of a message, for the store's full-text index (IMAP SEARCH BODY/TEXT,
// RFC 9051 §6.4.4): the decoded header, and the decoded text of its text/* parts.
//
// Invariants:
// - Pure and bounded: no I/O; reads at most MAX_HEADER_TEXT characters of header text and
//   MAX_BODY_TEXT characters of body text, walks at most MAX_PARTS parts to depth MAX_DEPTH.
// - Never throws on message content: an unknown transfer encoding leaves the octets as they are,
//   an unknown charset falls back to UTF-8 (the same rules as the IMAP scan it replaces).
// - Text is lower-cased (String.prototype.toLowerCase), so a lower-cased needle matches as a
//   plain substring, exactly as the scan compares.
// - Header text keeps its folding and has RFC 2047 encoded-words decoded; body text holds text/*
//   and message/* leaves (content transfer encoding undone, charset decoded) and the header of
//   each embedded message/rfc822, joined by "\n". Non-text leaves (images, archives) are left out.
// The store never imports a protocol module: this is a small self-contained MIME walker (the
// transfer decoding is the neutral src/mime/transfer.ts, shared with IMAP).

import libmime from "libmime";
import { decodeTransferEncoding } from "../mime/transfer.js";

export const MAX_BODY_TEXT = 1024 * 1024;
export const MAX_HEADER_TEXT = 256 * 1024;
const MAX_PARTS = 2000;
const MAX_DEPTH = 32;

export interface SearchableText {
  header: string;
  body: string;
}

interface Header {
  /** Raw header octets, without the blank line. */
  raw: Buffer;
  fields: Map<string, string>; // first occurrence, unfolded
}

/** Splits a part at its first empty line (CRLF CRLF or LF LF); a part without one is all header. */
function splitPart(buf: Buffer): { header: Header; body: Buffer } {
  let end = -1;
  let bodyStart = buf.length;
  if (buf.length >= 2 && buf[0] === 0x0d && buf[1] === 0x0a) {
    end = 0;
    bodyStart = 2;
  } else if (buf.length >= 1 && buf[0] === 0x0a) {
    end = 0;
    bodyStart = 1;
  } else {
    const crlf = buf.indexOf("\r\n\r\n");
    const lf = buf.indexOf("\n\n");
    if (crlf >= 0 && (lf < 0 || crlf < lf)) {
      end = crlf + 2;
      bodyStart = crlf + 4;
    } else if (lf >= 0) {
      end = lf + 1;
      bodyStart = lf + 2;
    }
  }
  const raw = end < 0 ? buf : buf.subarray(0, end);
  const fields = new Map<string, string>();
  // RFC 5322 §2.2.3: unfold by removing CRLF before white space.
  const text = raw.toString("latin1").replace(/\r?\n(?=[ \t])/g, "");
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!fields.has(name)) fields.set(name, line.slice(colon + 1).trim());
  }
  return { header: { raw, fields }, body: end < 0 ? Buffer.alloc(0) : buf.subarray(bodyStart) };
}

/** RFC 2045 §5.1 Content-Type: lower-case type/subtype and the parameters we need. */
function contentType(h: Header): { type: string; subtype: string; charset: string; boundary: string | null } {
  const v = h.fields.get("content-type") ?? "";
  const m = /^\s*([^/\s;]+)\s*\/\s*([^\s;]+)/.exec(v);
  // RFC 2045 §5.2: no (or an unparseable) Content-Type means text/plain; charset=us-ascii.
  const type = m ? m[1]!.toLowerCase() : "text";
  const subtype = m ? m[2]!.toLowerCase() : "plain";
  const param = (name: string): string | null => {
    const p = new RegExp(`;\\s*${name}\\s*=\\s*(?:"((?:[^"\\\\]|\\\\.)*)"|([^;\\s]+))`, "i").exec(v);
    if (!p) return null;
    return p[1] !== undefined ? p[1].replace(/\\(.)/g, "$1") : p[2]!;
  };
  return { type, subtype, charset: (param("charset") ?? "utf-8").trim().toLowerCase(), boundary: param("boundary") };
}

/** RFC 2045 §6: undoes the Content-Transfer-Encoding; unknown encodings are left as they are. */
function decodeTransfer(body: Buffer, h: Header): Buffer {
  return decodeTransferEncoding(body, h.fields.get("content-transfer-encoding") ?? null) ?? body;
}

function decodeCharset(b: Buffer, charset: string): string {
  try {
    return new TextDecoder(charset, { fatal: false }).decode(b);
  } catch {
    return b.toString("utf8"); // an unknown charset label
  }
}

/** RFC 2047 encoded-words decoded; the text as it is if it has none or they don't decode. */
function decodeWords(value: string): string {
  if (!value.includes("=?")) return value;
  try {
    return libmime.decodeWords(value);
  } catch {
    return value;
  }
}

/** RFC 2046 §5.1.1: the body parts between "--boundary" delimiter lines (the CRLF before a
 * delimiter belongs to the delimiter); the preamble and epilogue are dropped. */
function splitMultipart(body: Buffer, boundary: string): Buffer[] {
  const delim = Buffer.from("--" + boundary, "latin1");
  const parts: Buffer[] = [];
  let start = -1;
  let pos = 0;
  while (pos <= body.length) {
    const at = body.indexOf(delim, pos);
    if (at < 0) break;
    const lineStart = at === 0 || body[at - 1] === 0x0a;
    let lineEnd = body.indexOf(0x0a, at);
    if (lineEnd < 0) lineEnd = body.length;
    const rest = body.subarray(at + delim.length, lineEnd).toString("latin1");
    const closing = rest.startsWith("--");
    if (!lineStart || !/^(--)?[ \t\r]*$/.test(rest)) {
      pos = at + delim.length;
      continue;
    }
    if (start >= 0) {
      let end = at;
      if (end > start && body[end - 1] === 0x0a) end--;
      if (end > start && body[end - 1] === 0x0d) end--;
      parts.push(body.subarray(start, end));
      if (parts.length >= MAX_PARTS) return parts;
    }
    if (closing) return parts;
    start = lineEnd + 1;
    pos = start;
  }
  if (start >= 0 && start < body.length) parts.push(body.subarray(start)); // no closing delimiter
  return parts;
}

class Collector {
  readonly out: string[] = [];
  length = 0;
  parts = 0;
  get full(): boolean {
    return this.length >= MAX_BODY_TEXT;
  }
  push(s: string): void {
    if (this.full) return;
    const room = MAX_BODY_TEXT - this.length;
    const t = s.length > room ? s.slice(0, room) : s;
    this.out.push(t);
    this.length += t.length + 1;
  }
}

function walk(part: Buffer, c: Collector, depth: number): void {
  if (c.full || ++c.parts > MAX_PARTS) return;
  const { header, body } = splitPart(part);
  const ct = contentType(header);
  if (ct.type === "multipart" && ct.boundary && depth < MAX_DEPTH) {
    for (const p of splitMultipart(body, ct.boundary)) walk(p, c, depth + 1);
    return;
  }
  if (ct.type === "message" && (ct.subtype === "rfc822" || ct.subtype === "global") && depth < MAX_DEPTH) {
    const inner = decodeTransfer(body, header);
    const sub = splitPart(inner);
    c.push(decodeWords(sub.header.raw.subarray(0, MAX_HEADER_TEXT).toString("utf8")));
    walk(inner, c, depth + 1);
    return;
  }
  if (ct.type !== "text" && ct.type !== "message") return;
  // Decode no more octets than can become text we keep (a UTF-8 character is at most 4 octets).
  const room = (MAX_BODY_TEXT - c.length) * 4 + 4;
  const raw = body.length > room * 2 ? body.subarray(0, room * 2) : body; // encodings inflate by < 2x
  const decoded = decodeTransfer(raw, header);
  c.push(decodeCharset(decoded.length > room ? decoded.subarray(0, room) : decoded, ct.charset));
}

/** The lower-cased searchable header and body text of a message in wire form. */
export function extractSearchText(message: Buffer): SearchableText {
  try {
    const { header } = splitPart(message);
    const headerText = decodeWords(header.raw.subarray(0, MAX_HEADER_TEXT).toString("utf8")).toLowerCase();
    const c = new Collector();
    walk(message, c, 0);
    return { header: headerText, body: c.out.join("\n").toLowerCase() };
  } catch {
    // Defensive: a bug here must not refuse a delivery. Index the raw octets instead.
    const s = message.subarray(0, MAX_BODY_TEXT).toString("utf8").toLowerCase();
    return { header: s, body: s };
  }
}
