// FETCH attributes (RFC 9051 §6.4.5, §9 `fetch-att`): the typed items, the section-spec grammar
// `BODY[1.2.HEADER.FIELDS (FROM TO)]<0.100>`, BINARY (RFC 3516), MODSEQ (RFC 7162), the macros
// ALL/FAST/FULL, and the names items take in FETCH responses.
//
// Invariants:
// - A Section is always one of the shapes RFC 9051 §9 `section-spec` allows: MIME only after a
//   part number, HEADER.FIELDS always with at least one field name, part numbers non-zero.
// - Response names never echo client bytes unescaped: field names are re-encoded as astrings.

import { Cursor, ImapSyntaxError } from "./lexer.js";
import { astring } from "./encode.js";

export type SectionText = "HEADER" | "HEADER.FIELDS" | "HEADER.FIELDS.NOT" | "TEXT" | "MIME";

export interface Section {
  /** Part path, e.g. [1, 2] for "1.2"; empty for the whole message. */
  part: number[];
  text: SectionText | null;
  /** Header field names for HEADER.FIELDS(.NOT), as sent. */
  fields: string[];
}

export interface Partial {
  offset: number;
  length: number;
}

export type FetchItem =
  | { type: "FLAGS" }
  | { type: "INTERNALDATE" }
  | { type: "RFC822.SIZE" }
  | { type: "ENVELOPE" }
  /** BODY without section: the non-extensible BODYSTRUCTURE. */
  | { type: "BODY" }
  | { type: "BODYSTRUCTURE" }
  | { type: "UID" }
  | { type: "MODSEQ" } // RFC 7162 §3.1.4.1
  | { type: "RFC822" } // = BODY[] (sets \Seen)
  | { type: "RFC822.HEADER" } // = BODY.PEEK[HEADER]
  | { type: "RFC822.TEXT" } // = BODY[TEXT] (sets \Seen)
  | { type: "BODY[]"; section: Section; peek: boolean; partial: Partial | null }
  | { type: "BINARY"; part: number[]; peek: boolean; partial: Partial | null } // RFC 3516 §4.2
  | { type: "BINARY.SIZE"; part: number[] }; // RFC 3516 §4.2

const SIMPLE: Record<string, FetchItem> = {
  FLAGS: { type: "FLAGS" },
  INTERNALDATE: { type: "INTERNALDATE" },
  "RFC822.SIZE": { type: "RFC822.SIZE" },
  ENVELOPE: { type: "ENVELOPE" },
  BODYSTRUCTURE: { type: "BODYSTRUCTURE" },
  UID: { type: "UID" },
  MODSEQ: { type: "MODSEQ" },
  RFC822: { type: "RFC822" },
  "RFC822.HEADER": { type: "RFC822.HEADER" },
  "RFC822.TEXT": { type: "RFC822.TEXT" },
};

/** RFC 9051 §6.4.5 macros. */
export const FETCH_MACROS: Record<"ALL" | "FAST" | "FULL", FetchItem[]> = {
  ALL: [{ type: "FLAGS" }, { type: "INTERNALDATE" }, { type: "RFC822.SIZE" }, { type: "ENVELOPE" }],
  FAST: [{ type: "FLAGS" }, { type: "INTERNALDATE" }, { type: "RFC822.SIZE" }],
  FULL: [{ type: "FLAGS" }, { type: "INTERNALDATE" }, { type: "RFC822.SIZE" }, { type: "ENVELOPE" }, { type: "BODY" }],
};

/** Most header field names accepted in one HEADER.FIELDS list. */
export const MAX_HEADER_FIELDS = 256;
/** Deepest part path accepted ("1.1.1...."). */
export const MAX_PART_DEPTH = 64;

/** Parses one fetch-att at the cursor. */
export function parseFetchAtt(c: Cursor): FetchItem {
  if (c.tryPrefix("BODY.PEEK[")) return bodySection(c, true);
  if (c.tryPrefix("BODY[")) return bodySection(c, false);
  if (c.tryPrefix("BINARY.PEEK[")) return binary(c, true);
  if (c.tryPrefix("BINARY.SIZE[")) {
    const part = partOnly(c);
    return { type: "BINARY.SIZE", part };
  }
  if (c.tryPrefix("BINARY[")) return binary(c, false);
  const word = c.atom("a fetch attribute").toUpperCase();
  if (word === "BODY") return { type: "BODY" };
  const item = SIMPLE[word];
  if (!item) throw new ImapSyntaxError(`Unknown fetch attribute ${word.slice(0, 40)}`);
  return { ...item };
}

function binary(c: Cursor, peek: boolean): FetchItem {
  const part = partOnly(c);
  return { type: "BINARY", part, peek, partial: partial(c) };
}

/** RFC 3516 §4.2 section-binary = "[" [section-part] "]" */
function partOnly(c: Cursor): number[] {
  const part: number[] = [];
  if (!c.tryChar("]")) {
    part.push(c.nzNumber());
    while (c.tryChar(".")) {
      part.push(c.nzNumber());
      if (part.length > MAX_PART_DEPTH) throw new ImapSyntaxError("Part path too deep");
    }
    c.char("]");
  }
  return part;
}

function bodySection(c: Cursor, peek: boolean): FetchItem {
  const section = sectionSpec(c);
  return { type: "BODY[]", section, peek, partial: partial(c) };
}

/** RFC 9051 §9 section-spec, after "[", through "]". */
export function sectionSpec(c: Cursor): Section {
  const part: number[] = [];
  let text: SectionText | null = null;
  let fields: string[] = [];
  if (c.tryChar("]")) return { part, text, fields };
  const p = c.peek();
  if (p >= 0x31 && p <= 0x39) {
    part.push(c.nzNumber());
    for (;;) {
      if (!c.tryChar(".")) break;
      const q = c.peek();
      if (q >= 0x30 && q <= 0x39) {
        part.push(c.nzNumber());
        if (part.length > MAX_PART_DEPTH) throw new ImapSyntaxError("Part path too deep");
        continue;
      }
      text = sectionText(c, true);
      break;
    }
  } else {
    text = sectionText(c, false);
  }
  if (text === "HEADER.FIELDS" || text === "HEADER.FIELDS.NOT") {
    c.sp();
    // RFC 9051 §9 header-list = "(" header-fld-name *(SP header-fld-name) ")"
    fields = c.list(() => c.astring("a header field name"), false);
    if (fields.length > MAX_HEADER_FIELDS) throw new ImapSyntaxError("Too many header fields");
    for (const f of fields) if (!/^[\x21-\x39\x3b-\x7e]+$/.test(f)) throw new ImapSyntaxError("Invalid header field name"); // RFC 5322 §3.6.8 ftext
  }
  c.char("]");
  return { part, text, fields };
}

function sectionText(c: Cursor, afterPart: boolean): SectionText {
  // Longest first: HEADER.FIELDS.NOT before HEADER.FIELDS before HEADER.
  if (c.tryPrefix("HEADER.FIELDS.NOT")) return "HEADER.FIELDS.NOT";
  if (c.tryPrefix("HEADER.FIELDS")) return "HEADER.FIELDS";
  if (c.tryPrefix("HEADER")) return "HEADER";
  if (c.tryPrefix("TEXT")) return "TEXT";
  if (afterPart && c.tryPrefix("MIME")) return "MIME"; // RFC 9051 §9 section-text: MIME only after a part
  throw new ImapSyntaxError("Invalid section");
}

/** RFC 9051 §9 partial = "<" number "." nz-number ">" */
function partial(c: Cursor): Partial | null {
  if (!c.tryChar("<")) return null;
  const offset = c.number();
  c.char(".");
  const length = c.nzNumber();
  c.char(">");
  return { offset, length };
}

/** Section spec as it appears in a FETCH response: "1.2.HEADER.FIELDS (FROM TO)". */
export function sectionToString(s: Section): string {
  let out = s.part.join(".");
  if (s.text) {
    if (out) out += ".";
    out += s.text;
    if (s.text === "HEADER.FIELDS" || s.text === "HEADER.FIELDS.NOT") {
      out += " (" + s.fields.map((f) => astring(f.toUpperCase())).join(" ") + ")";
    }
  }
  return out;
}

/** The name an item carries in the FETCH response (RFC 9051 §7.5.2): BODY.PEEK answers as BODY,
 * a partial fetch shows only its origin octet ("BODY[]<0>"). */
export function fetchResponseName(item: FetchItem): string {
  switch (item.type) {
    case "BODY[]":
      return `BODY[${sectionToString(item.section)}]` + (item.partial ? `<${item.partial.offset}>` : "");
    case "BINARY":
      return `BINARY[${item.part.join(".")}]` + (item.partial ? `<${item.partial.offset}>` : "");
    case "BINARY.SIZE":
      return `BINARY.SIZE[${item.part.join(".")}]`;
    default:
      return item.type;
  }
}

/** True when fetching the item sets \Seen (RFC 9051 §6.4.5: BODY[...] and BINARY[...] without
 * .PEEK, RFC822 and RFC822.TEXT). */
export function setsSeen(item: FetchItem): boolean {
  return ((item.type === "BODY[]" || item.type === "BINARY") && !item.peek) || item.type === "RFC822" || item.type === "RFC822.TEXT";
}

/** What a FETCH needs to read, so the session loads only that: `parsed` (the stored structure:
 * ENVELOPE, BODY, BODYSTRUCTURE, section offsets), `body` (octets of the message file). */
export function fetchNeeds(items: readonly FetchItem[]): { parsed: boolean; body: boolean; seen: boolean } {
  let parsed = false;
  let body = false;
  let seen = false;
  for (const i of items) {
    switch (i.type) {
      case "ENVELOPE":
      case "BODY":
      case "BODYSTRUCTURE":
        parsed = true;
        break;
      case "RFC822":
      case "RFC822.HEADER":
      case "RFC822.TEXT":
      case "BODY[]":
      case "BINARY":
      case "BINARY.SIZE":
        parsed = true;
        body = true;
        break;
      default:
        break;
    }
    if (setsSeen(i)) seen = true;
  }
  return { parsed, body, seen };
}

/** The section an RFC822.* item stands for (RFC 9051 §6.4.5 / RFC 3501: RFC822 = BODY[],
 * RFC822.HEADER = BODY.PEEK[HEADER], RFC822.TEXT = BODY[TEXT]); null for other items. */
export function rfc822Section(item: FetchItem): Section | null {
  if (item.type === "RFC822") return { part: [], text: null, fields: [] };
  if (item.type === "RFC822.HEADER") return { part: [], text: "HEADER", fields: [] };
  if (item.type === "RFC822.TEXT") return { part: [], text: "TEXT", fields: [] };
  return null;
}
