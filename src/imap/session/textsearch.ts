// BODY and TEXT search (RFC 9051 §6.4.4): the searchable text of one message, with each leaf
// part's Content-Transfer-Encoding undone and its charset decoded, so a base64 or
// quoted-printable body matches what the user sees. Lower-cased for case-insensitive matching.
// Only text/* and message/* leaves are searched (not images or archives), the same text the
// store's full-text index holds (src/store/text.ts), so the index and this scan (its fallback
// for needles under 3 characters) agree.
//
// Invariants: pure (the caller reads the body); never throws on message content: an unknown
// encoding or charset falls back to the raw octets read as UTF-8.

import type { MimePart, ParsedMessage } from "../mime.js";
import { decodeHeaderValue } from "../mime.js";
import { decodeTransferEncoding } from "../../mime/transfer.js";

/** Leaf parts larger than this are searched only in their first octets (bounded work). */
const MAX_PART_TEXT = 8 * 1024 * 1024;

function charsetOf(p: MimePart): string {
  for (const [k, v] of p.params) if (k.toLowerCase() === "charset") return v.trim().toLowerCase();
  return "utf-8";
}

function decodeText(b: Buffer, charset: string): string {
  try {
    return new TextDecoder(charset, { fatal: false }).decode(b);
  } catch {
    return b.toString("utf8"); // an unknown charset label
  }
}

function leafText(body: Buffer, p: MimePart): string | null {
  const type = p.type.toLowerCase();
  if (type !== "text" && type !== "message") return null; // binary leaves hold no searchable text
  const raw = body.subarray(p.bodyStart, Math.min(p.bodyEnd, p.bodyStart + MAX_PART_TEXT));
  const decoded = decodeTransferEncoding(raw, p.encoding) ?? raw;
  return decodeText(decoded, charsetOf(p));
}

function collect(body: Buffer, p: MimePart, out: string[]): void {
  if (p.children && p.children.length > 0) {
    for (const c of p.children) collect(body, c, out);
  } else if (p.message) {
    out.push(decodeHeaderValue(body.subarray(p.message.root.headerStart, p.message.root.bodyStart).toString("utf8")));
    collect(body, p.message.root, out);
  } else {
    const t = leafText(body, p);
    if (t !== null) out.push(t);
  }
}

/** Lower-cased searchable texts: `body` (decoded parts) and `text` (header and body). */
export function searchableText(body: Buffer, parsed: ParsedMessage): { body: string; text: string } {
  const parts: string[] = [];
  collect(body, parsed.root, parts);
  const bodyText = parts.join("\n").toLowerCase();
  const header = decodeHeaderValue(body.subarray(0, parsed.root.bodyStart).toString("utf8")).toLowerCase();
  return { body: bodyText, text: header + "\n" + bodyText };
}
