// BODY and BODYSTRUCTURE rendering (RFC 9051 §7.5.2, §9 `body`), and the section helpers FETCH
// needs: which byte range(s) of the stored message a section spec names, header-field
// filtering, partial ranges and Content-Transfer-Encoding decoding for BINARY (RFC 3516).
//
// Invariants:
// - Rendering is a pure function of the stored ParsedMessage: FETCH never parses a body again.
// - Part numbering follows RFC 9051 §6.4.5: a non-multipart message has one part "1" (its body);
//   parts of a message/rfc822 part are numbered inside the encapsulated message.
// - A section that does not exist resolves to null (the session answers with NIL or an empty
//   string); it never throws.

import { imapString, nstring } from "./encode.js";
import { renderEnvelope } from "./envelope.js";
import type { Section } from "./fetchatt.js";
import type { MimePart, Params, ParsedMessage } from "./mime.js";

function params(p: Params): string {
  if (p.length === 0) return "NIL";
  return "(" + p.map(([k, v]) => `${imapString(k)} ${imapString(v)}`).join(" ") + ")";
}

function disposition(d: MimePart["disposition"]): string {
  if (!d) return "NIL";
  return `(${imapString(d.type)} ${params(d.params)})`;
}

function language(l: string[] | null): string {
  if (!l || l.length === 0) return "NIL";
  // RFC 9051 §9 body-fld-lang allows a single string or a list; a list always, as Dovecot does.
  return "(" + l.map(imapString).join(" ") + ")";
}

function isText(p: MimePart): boolean {
  return p.type.toLowerCase() === "text";
}

/** RFC 9051 §9 body-fld-param for a text part without parameters: the RFC 2045 §5.2 default. */
function bodyParams(p: MimePart): string {
  if (p.params.length === 0 && isText(p)) return '("charset" "us-ascii")';
  return params(p.params);
}

/** Renders the body structure of a part: `extended` true for BODYSTRUCTURE (with extension
 * data), false for BODY. */
export function renderBody(p: MimePart, extended: boolean): string {
  if (p.children && p.children.length > 0) {
    // RFC 9051 §9 body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart]
    let s = "(" + p.children.map((c) => renderBody(c, extended)).join("") + " " + imapString(p.subtype);
    if (extended) {
      // body-ext-mpart = body-fld-param [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc]]]
      s += ` ${params(p.params)} ${disposition(p.disposition)} ${language(p.language)} ${nstring(p.location)}`;
    }
    return s + ")";
  }
  // body-fields = body-fld-param SP body-fld-id SP body-fld-desc SP body-fld-enc SP body-fld-octets
  const fields = `${bodyParams(p)} ${nstring(p.id)} ${nstring(p.description)} ${imapString(p.encoding ?? "7bit")} ${p.bodyEnd - p.bodyStart}`;
  let s = `(${imapString(p.type)} ${imapString(p.subtype)} ${fields}`;
  if (p.message) {
    // body-type-msg = media-message SP body-fields SP envelope SP body SP body-fld-lines
    s += ` ${renderEnvelope(p.message.envelope)} ${renderBody(p.message.root, extended)} ${p.lines}`;
  } else if (isText(p)) {
    s += ` ${p.lines}`; // body-type-text: body-fld-lines
  }
  if (extended) {
    // body-ext-1part = body-fld-md5 [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc]]]
    s += ` ${nstring(p.md5)} ${disposition(p.disposition)} ${language(p.language)} ${nstring(p.location)}`;
  }
  return s + ")";
}

/** FETCH BODYSTRUCTURE value. */
export function renderBodyStructure(m: ParsedMessage): string {
  return renderBody(m.root, true);
}

/** FETCH BODY (non-extensible) value. */
export function renderBodyBasic(m: ParsedMessage): string {
  return renderBody(m.root, false);
}

// ---------------------------------------------------------------------------------------------
// Sections

/** Octets [start, end) of the stored message. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface SectionPlan {
  /** The octets to read. */
  range: ByteRange;
  /** For HEADER.FIELDS(.NOT): filter the header read from `range` with filterHeaderFields. */
  filter: { fields: string[]; not: boolean } | null;
  /** The part addressed (for BINARY: its Content-Transfer-Encoding). */
  part: MimePart;
}

/** Finds the part a path names (RFC 9051 §6.4.5). `inMessage` tells whether the result is the
 * root of an encapsulated message (so HEADER/TEXT apply to it). */
function walk(root: MimePart, path: readonly number[]): { node: MimePart; messageRoot: MimePart | null } | null {
  let node = root;
  let atRoot = true;
  for (const n of path) {
    if (!atRoot && node.message) {
      node = node.message.root; // numbers after a message/rfc822 part address its message
      atRoot = true;
    }
    if (node.children) {
      const c = node.children[n - 1];
      if (!c) return null;
      node = c;
    } else if (!(atRoot && n === 1)) {
      return null; // a leaf has no subparts; a single-part message has only part 1
    }
    atRoot = false;
  }
  if (path.length === 0) return { node, messageRoot: node };
  return { node, messageRoot: node.message ? node.message.root : null };
}

/**
 * The byte range a BODY[section] reads, or null when the section does not exist in the message.
 * HEADER, HEADER.FIELDS(.NOT) and TEXT after a part number need a message/rfc822 part (RFC 9051
 * §6.4.5); MIME needs a part number.
 */
export function resolveSection(m: ParsedMessage, s: Section): SectionPlan | null {
  const w = walk(m.root, s.part);
  if (!w) return null;
  const { node, messageRoot } = w;
  switch (s.text) {
    case null:
      if (s.part.length === 0) return { range: { start: 0, end: m.size }, filter: null, part: node };
      return { range: { start: node.bodyStart, end: node.bodyEnd }, filter: null, part: node };
    case "MIME":
      if (s.part.length === 0) return null;
      return { range: { start: node.headerStart, end: node.bodyStart }, filter: null, part: node };
    case "HEADER":
    case "HEADER.FIELDS":
    case "HEADER.FIELDS.NOT": {
      if (!messageRoot) return null;
      const range = { start: messageRoot.headerStart, end: messageRoot.bodyStart };
      const filter = s.text === "HEADER" ? null : { fields: s.fields, not: s.text === "HEADER.FIELDS.NOT" };
      return { range, filter, part: messageRoot };
    }
    case "TEXT":
      if (!messageRoot) return null;
      return { range: { start: messageRoot.bodyStart, end: messageRoot.bodyEnd }, filter: null, part: messageRoot };
  }
}

/** The part BINARY[path] decodes (RFC 3516 §4.2): a leaf; null when missing or a multipart
 * (the session answers NO then). An empty path is the whole message, only when single-part. */
export function resolveBinaryPart(m: ParsedMessage, path: readonly number[]): MimePart | null {
  const w = walk(m.root, path);
  if (!w || w.node.children) return null;
  return w.node;
}

/**
 * Keeps (or with `not`, drops) the header fields whose names are in `fields`, case-insensitively
 * (RFC 9051 §6.4.5). Folded lines stay with their field. The blank line that ends the header is
 * kept when the input had one.
 */
export function filterHeaderFields(header: Buffer, fields: readonly string[], not: boolean): Buffer {
  const want = new Set(fields.map((f) => f.toLowerCase()));
  const out: Buffer[] = [];
  let keep = false;
  let i = 0;
  let blank = false;
  while (i < header.length) {
    let nl = header.indexOf(0x0a, i);
    if (nl < 0) nl = header.length - 1;
    const line = header.subarray(i, nl + 1);
    i = nl + 1;
    if (line[0] === 0x0d || line[0] === 0x0a) {
      blank = true;
      break;
    }
    if (line[0] !== 0x20 && line[0] !== 0x09) {
      const colon = line.indexOf(0x3a);
      const name = colon > 0 ? line.toString("latin1", 0, colon).trim().toLowerCase() : null;
      // A line without a colon (a broken header) matches no name: dropped by HEADER.FIELDS,
      // kept by HEADER.FIELDS.NOT, as Dovecot does.
      keep = name !== null ? want.has(name) !== not : not;
    }
    if (keep) out.push(line);
  }
  if (blank) out.push(Buffer.from("\r\n"));
  return Buffer.concat(out);
}

/** Applies `<offset.length>` to content of `size` octets (RFC 9051 §6.4.5): the slice
 * [start, end) to send; empty when offset is past the end. */
export function partialRange(size: number, partial: { offset: number; length: number } | null): ByteRange {
  if (!partial) return { start: 0, end: size };
  const start = Math.min(partial.offset, size);
  return { start, end: Math.min(size, start + partial.length) };
}

/** Header values for SEARCH from the stored structure; null when they were not stored (a trace
 * field, or a header too large to keep whole): read the header from the body file then. */
export function storedHeaderValues(m: ParsedMessage, name: string): string[] | null {
  const n = name.toLowerCase();
  if (m.headersOmitted.includes(n)) return null;
  const out: string[] = [];
  for (const [k, v] of m.headers) if (k.toLowerCase() === n) out.push(v);
  if (m.headersTruncated) return null; // the stored list may lack later occurrences
  return out;
}
