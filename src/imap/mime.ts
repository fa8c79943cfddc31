// A one-pass MIME parser (RFC 5322, RFC 2045, RFC 2046) producing the compact, JSON-serialisable
// structure IMAP keeps per message (MessageMeta.parsed): the part tree with byte offsets, line
// counts and header-derived fields, the envelope, and the top-level header fields for SEARCH.
//
// Invariants:
// - parseMessage never throws on message content: a broken header, type or boundary degrades to
//   the RFC 2045 §5.2 default (text/plain; charset=us-ascii) or to a shorter part tree.
// - Offsets are absolute octet positions in the message as stored (CRLF form; bare LF is
//   tolerated when reading but the store normalises with normaliseCrlf first).
// - Values are kept as sent (unfolded, not decoded: encoded-words stay encoded, RFC 2231
//   parameters stay split), because IMAP returns them verbatim; decoded forms are computed on
//   demand (decodedParams, decodeHeaderValue).
// - Depth and part count are bounded (MAX_MIME_DEPTH, MAX_MIME_PARTS), so hostile nesting cannot
//   exhaust the stack or memory.

import libmime from "libmime";
import { parseEnvelope, type Envelope } from "./envelope.js";

export const MAX_MIME_DEPTH = 48;
export const MAX_MIME_PARTS = 5000;
/** Octets of top-level header fields kept for SEARCH; beyond this `headersTruncated` is set and
 * the session reads the header from the body file. */
export const MAX_SEARCH_HEADER_BYTES = 16 * 1024;
/** Bulky trace fields nobody searches in practice: not kept (their names go to headersOmitted, so
 * a HEADER search on them reads the header from the body file instead). */
const OMITTED_HEADERS = new Set([
  "received", "dkim-signature", "arc-seal", "arc-message-signature", "arc-authentication-results",
  "authentication-results", "x-google-dkim-signature", "x-received", "x-gm-message-state",
  "x-google-smtp-source", "x-ms-exchange-antispam-messagedata-0", "x-ms-exchange-antispam-messagedata-chunkcount",
  "x-microsoft-antispam-message-info", "x-forefront-antispam-report",
]);

export type Params = Array<[string, string]>;

export interface MimePart {
  /** Offset of the part's first header octet. */
  headerStart: number;
  /** Offset of the first body octet (the header, with its blank line, is headerStart..bodyStart). */
  bodyStart: number;
  /** Offset just past the body (the CRLF before a boundary delimiter is not part of the body,
   * RFC 2046 §5.1.1). */
  bodyEnd: number;
  /** Text lines in the body (RFC 9051 §7.5.2 body-fld-lines): the number of line ends. */
  lines: number;
  /** Media type and subtype as sent, or the defaults "text"/"plain" (RFC 2045 §5.2). */
  type: string;
  subtype: string;
  /** Content-Type parameters as sent (names and values, quotes removed). */
  params: Params;
  id: string | null;
  description: string | null;
  /** Content-Transfer-Encoding as sent; null when absent (renders as "7bit"). */
  encoding: string | null;
  md5: string | null;
  disposition: { type: string; params: Params } | null;
  language: string[] | null;
  location: string | null;
  /** Children of a multipart (always at least one). */
  children?: MimePart[];
  /** The encapsulated message of a message/rfc822 or message/global part. */
  message?: { envelope: Envelope; root: MimePart };
}

export interface ParsedMessage {
  /** Format version of this structure, bumped when its shape changes. */
  v: 1;
  size: number;
  envelope: Envelope;
  root: MimePart;
  /** Top-level header fields (name as sent, value unfolded, not decoded), for SEARCH. */
  headers: Array<[string, string]>;
  /** Lower-case names of fields present but not kept in `headers` (trace fields). */
  headersOmitted: string[];
  /** More fields existed than MAX_SEARCH_HEADER_BYTES allows; `headers` holds the first ones. */
  headersTruncated: boolean;
}

export interface HeaderField {
  name: string;
  /** Unfolded value (RFC 5322 §2.2.3), leading and trailing white space removed. */
  value: string;
}

/** Converts bare LF (and lone CR) line ends to CRLF, as the store keeps messages (RFC 5322 §2.1). */
export function normaliseCrlf(buf: Buffer): Buffer {
  let needs = false;
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i]!;
    if (c === 0x0a && (i === 0 || buf[i - 1] !== 0x0d)) needs = true;
    else if (c === 0x0d && buf[i + 1] !== 0x0a) needs = true;
    if (needs) break;
  }
  if (!needs) return buf;
  const out = Buffer.allocUnsafe(buf.length * 2);
  let o = 0;
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i]!;
    if (c === 0x0d) {
      out[o++] = 0x0d;
      out[o++] = 0x0a;
      if (buf[i + 1] === 0x0a) i++;
    } else if (c === 0x0a) {
      out[o++] = 0x0d;
      out[o++] = 0x0a;
    } else out[o++] = c;
  }
  return Buffer.from(out.subarray(0, o));
}

/** Header octets as text: UTF-8 when valid (RFC 6532), otherwise Latin-1 so no octet is lost. */
export function headerText(b: Buffer): string {
  try {
    return UTF8.decode(b);
  } catch {
    return b.toString("latin1");
  }
}
const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** Finds the end of the header block starting at `start`: the offset of the body. A header ends
 * at the first empty line (RFC 5322 §2.1); without one, everything up to `end` is header. */
export function findBodyStart(buf: Buffer, start: number, end: number): number {
  let i = start;
  while (i < end) {
    // i is at the start of a line
    if (buf[i] === 0x0a) return i + 1;
    if (buf[i] === 0x0d && buf[i + 1] === 0x0a && i + 1 < end) return i + 2;
    const nl = buf.indexOf(0x0a, i);
    if (nl < 0 || nl >= end) return end;
    i = nl + 1;
  }
  return end;
}

/** Splits a header block into fields. Lines without a colon, or with an invalid field name, are
 * skipped (broken headers degrade, never fail). */
export function parseHeaderFields(buf: Buffer, start: number, end: number): HeaderField[] {
  const fields: HeaderField[] = [];
  let cur: Buffer[] | null = null;
  const flush = () => {
    if (!cur) return;
    const raw = headerText(Buffer.concat(cur));
    cur = null;
    const colon = raw.indexOf(":");
    if (colon <= 0) return;
    const name = raw.slice(0, colon).replace(/[ \t]+$/, ""); // RFC 5322 §4.5.3 obs: WSP before ":"
    if (!/^[\x21-\x39\x3b-\x7e]+$/.test(name)) return; // RFC 5322 §3.6.8 ftext
    fields.push({ name, value: raw.slice(colon + 1).replace(/\r?\n(?=[ \t])/g, "").replace(/^[ \t]+|[ \t\r\n]+$/g, "") }); // RFC 5322 §2.2.3 unfolding
  };
  let i = start;
  while (i < end) {
    let nl = buf.indexOf(0x0a, i);
    if (nl < 0 || nl >= end) nl = end - 1;
    const lineEnd = nl + 1;
    const first = buf[i];
    if (first === 0x0d || first === 0x0a) break; // the blank line
    if ((first === 0x20 || first === 0x09) && cur) (cur as Buffer[]).push(buf.subarray(i, lineEnd));
    else {
      flush();
      cur = [buf.subarray(i, lineEnd)];
    }
    i = lineEnd;
  }
  flush();
  return fields;
}

/** First value of a field, by case-insensitive name. */
export function fieldValue(fields: readonly HeaderField[], name: string): string | null {
  const n = name.toLowerCase();
  for (const f of fields) if (f.name.toLowerCase() === n) return f.value;
  return null;
}

// ---------------------------------------------------------------------------------------------
// RFC 2045 §5.1 structured values: type "/" subtype *(";" parameter), with RFC 822 comments.

interface Token {
  kind: "atom" | "quoted" | "special";
  text: string;
}

/** Tokenises a MIME header value (RFC 2045 §5.1 tspecials; comments dropped). */
function tokenize(s: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < s.length) {
    const ch = s[i]!;
    if (ch === " " || ch === "\t" || ch === "\r" || ch === "\n") {
      i++;
    } else if (ch === "(") {
      let depth = 1;
      i++;
      while (i < s.length && depth > 0) {
        if (s[i] === "\\") i++;
        else if (s[i] === "(") depth++;
        else if (s[i] === ")") depth--;
        i++;
      }
    } else if (ch === '"') {
      let v = "";
      i++;
      while (i < s.length && s[i] !== '"') {
        if (s[i] === "\\" && i + 1 < s.length) i++;
        v += s[i];
        i++;
      }
      i++;
      out.push({ kind: "quoted", text: v });
    } else if ("()<>@,;:\\/[]?=".includes(ch)) {
      out.push({ kind: "special", text: ch });
      i++;
    } else {
      let j = i;
      while (j < s.length && !' \t\r\n()<>@,;:\\"/[]?='.includes(s[j]!)) j++;
      out.push({ kind: "atom", text: s.slice(i, j) });
      i = j;
    }
  }
  return out;
}

/** Parses `value *(";" name "=" value)` (Content-Type after the type, Content-Disposition).
 * Malformed parameters are skipped. Values are kept as sent (quotes removed). */
function parseParams(tokens: Token[], from: number): Params {
  const params: Params = [];
  let i = from;
  while (i < tokens.length) {
    if (!(tokens[i]!.kind === "special" && tokens[i]!.text === ";")) {
      i++;
      continue;
    }
    i++;
    const name = tokens[i];
    const eq = tokens[i + 1];
    const val = tokens[i + 2];
    if (name?.kind === "atom" && eq?.kind === "special" && eq.text === "=" && val && val.kind !== "special") {
      // Values with "/" or "?" unquoted (common, e.g. name=a/b) are glued back together.
      let v = val.text;
      let k = i + 3;
      if (val.kind === "atom") {
        while (k < tokens.length && !(tokens[k]!.kind === "special" && tokens[k]!.text === ";") && (tokens[k]!.kind === "atom" || "/?=@[]:".includes(tokens[k]!.text))) {
          v += tokens[k]!.text;
          k++;
        }
      }
      if (!params.some(([n]) => n.toLowerCase() === name.text.toLowerCase())) params.push([name.text, v]);
      i = k;
    } else if (name?.kind === "atom" && eq?.kind === "special" && eq.text === "=" && !val) {
      params.push([name.text, ""]);
      i += 2;
    }
  }
  return params;
}

/** RFC 2045 §5.1 Content-Type; null when malformed (the caller applies the default). */
export function parseContentType(value: string): { type: string; subtype: string; params: Params } | null {
  const t = tokenize(value);
  if (t.length < 3 || t[0]!.kind !== "atom" || t[1]!.text !== "/" || t[1]!.kind !== "special" || t[2]!.kind !== "atom") return null;
  if (t.length > 3 && !(t[3]!.kind === "special" && t[3]!.text === ";")) return null;
  return { type: t[0]!.text, subtype: t[2]!.text, params: parseParams(t, 3) };
}

/** RFC 2183 Content-Disposition; null when malformed. */
export function parseDisposition(value: string): { type: string; params: Params } | null {
  const t = tokenize(value);
  if (t.length < 1 || t[0]!.kind !== "atom") return null;
  return { type: t[0]!.text, params: parseParams(t, 1) };
}

/** Parameters with RFC 2231 continuations joined and charsets decoded, keyed by lower-case name. */
export function decodedParams(params: Params): Map<string, string> {
  const out = new Map<string, string>();
  const cont = new Map<string, Array<{ n: number; v: string; ext: boolean }>>();
  for (const [rawName, v] of params) {
    const name = rawName.toLowerCase();
    const m = /^([^*]+)\*(?:(\d+)\*?|)$/.exec(name);
    if (!m) {
      out.set(name, v);
      continue;
    }
    const base = m[1]!;
    const n = m[2] === undefined ? 0 : Number(m[2]);
    const ext = name.endsWith("*");
    const list = cont.get(base) ?? [];
    list.push({ n, v, ext });
    cont.set(base, list);
  }
  for (const [base, list] of cont) {
    list.sort((a, b) => a.n - b.n);
    let charset = "us-ascii";
    const bytes: number[] = [];
    list.forEach((seg, idx) => {
      let v = seg.v;
      if (seg.ext) {
        if (idx === 0) {
          // RFC 2231 §4: charset'language'value on the first (extended) segment
          const q = /^([^']*)'[^']*'(.*)$/s.exec(v);
          if (q) {
            charset = q[1] || charset;
            v = q[2]!;
          }
        }
        for (let i = 0; i < v.length; i++) {
          if (v[i] === "%" && /^[0-9A-Fa-f]{2}$/.test(v.slice(i + 1, i + 3))) {
            bytes.push(parseInt(v.slice(i + 1, i + 3), 16));
            i += 2;
          } else for (const b of Buffer.from(v[i]!, "utf8")) bytes.push(b);
        }
      } else for (const b of Buffer.from(v, "utf8")) bytes.push(b);
    });
    out.set(base, decodeCharset(Buffer.from(bytes), charset));
  }
  return out;
}

function decodeCharset(b: Buffer, charset: string): string {
  try {
    return new TextDecoder(charset.toLowerCase() === "us-ascii" ? "utf-8" : charset).decode(b);
  } catch {
    return b.toString("latin1");
  }
}

/** A header value with RFC 2047 encoded-words decoded, for SEARCH matching. Never throws. */
export function decodeHeaderValue(value: string): string {
  if (!value.includes("=?")) return value;
  try {
    return libmime.decodeWords(value);
  } catch {
    return value;
  }
}

// ---------------------------------------------------------------------------------------------
// The part tree

function countLines(buf: Buffer, start: number, end: number): number {
  let n = 0;
  let i = start;
  for (;;) {
    const nl = buf.indexOf(0x0a, i);
    if (nl < 0 || nl >= end) break;
    n++;
    i = nl + 1;
  }
  // Lines are counted by their line ends, as Dovecot does: a last line without CRLF (the part
  // before a boundary delimiter, whose CRLF belongs to the delimiter, RFC 2046 §5.1.1) adds none.
  return n;
}

interface Budget {
  parts: number;
}

function emptyPart(start: number): MimePart {
  return {
    headerStart: start, bodyStart: start, bodyEnd: start, lines: 0, type: "text", subtype: "plain",
    params: [["charset", "us-ascii"]], id: null, description: null, encoding: null, md5: null,
    disposition: null, language: null, location: null,
  };
}

/** Parses one entity (header + body) in buf[start, end). */
function parseEntity(buf: Buffer, start: number, end: number, depth: number, budget: Budget, digestChild: boolean): { part: MimePart; fields: HeaderField[] } {
  budget.parts++;
  const bodyStart = findBodyStart(buf, start, end);
  const fields = parseHeaderFields(buf, start, bodyStart);
  const part = emptyPart(start);
  part.bodyStart = bodyStart;
  part.bodyEnd = end;
  part.lines = countLines(buf, bodyStart, end);
  const ctRaw = fieldValue(fields, "content-type");
  const ct = ctRaw === null ? null : parseContentType(ctRaw);
  if (ct) {
    part.type = ct.type;
    part.subtype = ct.subtype;
    part.params = ct.params;
  } else if (digestChild && ctRaw === null) {
    // RFC 2046 §5.1.5: in a multipart/digest the default is message/rfc822.
    part.type = "message";
    part.subtype = "rfc822";
    part.params = [];
  }
  part.id = fieldValue(fields, "content-id");
  part.description = fieldValue(fields, "content-description");
  part.encoding = fieldValue(fields, "content-transfer-encoding");
  part.md5 = fieldValue(fields, "content-md5");
  part.location = fieldValue(fields, "content-location");
  const disp = fieldValue(fields, "content-disposition");
  part.disposition = disp === null ? null : parseDisposition(disp);
  const lang = fieldValue(fields, "content-language");
  if (lang !== null) {
    const l = lang.split(/[\s,]+/).filter((x) => x.length > 0);
    part.language = l.length > 0 ? l : null;
  }
  const type = part.type.toLowerCase();
  const subtype = part.subtype.toLowerCase();
  const deep = depth >= MAX_MIME_DEPTH || budget.parts >= MAX_MIME_PARTS;
  if (type === "multipart") {
    const boundary = decodedParams(part.params).get("boundary");
    const children = boundary && !deep ? splitMultipart(buf, bodyStart, end, boundary, depth, budget, subtype === "digest") : null;
    if (children && children.length > 0) part.children = children;
    else degrade(part); // RFC 2045 §5.2: no usable boundary, treat as text/plain
  } else if (type === "message" && (subtype === "rfc822" || subtype === "global")) {
    const enc = (part.encoding ?? "7bit").toLowerCase();
    if (!deep && (enc === "7bit" || enc === "8bit" || enc === "binary")) {
      // RFC 2046 §5.2.1: the body is a complete message.
      const inner = parseEntity(buf, bodyStart, end, depth + 1, budget, false);
      part.message = { envelope: parseEnvelope(inner.fields), root: inner.part };
    } else {
      // Too deep, or encoded (which RFC 2046 §5.2.1 forbids): clients expect an envelope and a
      // body after "message" "rfc822" (RFC 9051 §9 body-type-msg), so give an empty envelope
      // and the body as one text/plain part instead of recursing.
      const root = emptyPart(bodyStart);
      root.bodyEnd = end;
      root.lines = part.lines;
      part.message = { envelope: parseEnvelope([]), root };
    }
  }
  return { part, fields };
}

function degrade(part: MimePart): void {
  part.type = "text";
  part.subtype = "plain";
  part.params = [["charset", "us-ascii"]];
}

/** Splits a multipart body at its delimiter lines (RFC 2046 §5.1.1). A missing close delimiter
 * ends the last part at the end of the body. */
function splitMultipart(buf: Buffer, start: number, end: number, boundary: string, depth: number, budget: Budget, digest: boolean): MimePart[] {
  const delim = Buffer.from("--" + boundary, "latin1");
  const children: MimePart[] = [];
  let partStart = -1;
  let i = start;
  while (i < end) {
    let nl = buf.indexOf(0x0a, i);
    if (nl < 0 || nl >= end) nl = end;
    const lineEnd = Math.min(nl + 1, end);
    if (buf[i] === 0x2d && buf[i + 1] === 0x2d && nl - i >= delim.length && buf.compare(delim, 0, delim.length, i, i + delim.length) === 0) {
      // Rest of the line: optional "--", then transport padding (RFC 2046 §5.1.1).
      let k = i + delim.length;
      let close = false;
      if (buf[k] === 0x2d && buf[k + 1] === 0x2d) {
        close = true;
        k += 2;
      }
      while (k < nl && (buf[k] === 0x20 || buf[k] === 0x09 || buf[k] === 0x0d)) k++;
      if (k === nl) {
        if (partStart >= 0) {
          // The CRLF before the delimiter belongs to the delimiter.
          let pe = i;
          if (pe > partStart && buf[pe - 1] === 0x0a) pe--;
          if (pe > partStart && buf[pe - 1] === 0x0d) pe--;
          children.push(parseChild(buf, partStart, pe, depth, budget, digest));
        }
        if (close) return children;
        if (budget.parts >= MAX_MIME_PARTS) return children;
        partStart = lineEnd;
      }
    }
    i = lineEnd;
  }
  if (partStart >= 0) children.push(parseChild(buf, partStart, end, depth, budget, digest));
  return children;
}

function parseChild(buf: Buffer, start: number, end: number, depth: number, budget: Budget, digest: boolean): MimePart {
  return parseEntity(buf, start, Math.max(start, end), depth + 1, budget, digest).part;
}

/** Parses a whole message (CRLF form) once; the result is what the store keeps as `parsed`. */
export function parseMessage(buf: Buffer): ParsedMessage {
  const budget: Budget = { parts: 0 };
  const { part, fields } = parseEntity(buf, 0, buf.length, 0, budget, false);
  const headers: Array<[string, string]> = [];
  const omitted = new Set<string>();
  let used = 0;
  let headersTruncated = false;
  for (const f of fields) {
    const lower = f.name.toLowerCase();
    if (OMITTED_HEADERS.has(lower)) {
      omitted.add(lower);
      continue;
    }
    used += f.name.length + f.value.length + 2;
    if (used > MAX_SEARCH_HEADER_BYTES) {
      headersTruncated = true;
      break;
    }
    headers.push([f.name, f.value]);
  }
  return { v: 1, size: buf.length, envelope: parseEnvelope(fields), root: part, headers, headersOmitted: [...omitted], headersTruncated };
}

/** Type guard for values read back from the store (MessageMeta.parsed is `unknown`). */
export function isParsedMessage(x: unknown): x is ParsedMessage {
  return typeof x === "object" && x !== null && (x as { v?: unknown }).v === 1 && typeof (x as { root?: unknown }).root === "object";
}
