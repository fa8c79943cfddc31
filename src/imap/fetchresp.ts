// FETCH response values that need no message octets (RFC 9051 §7.5.2): FLAGS, INTERNALDATE,
// RFC822.SIZE, UID, MODSEQ (RFC 7162 §3.1.4), ENVELOPE, BODY, BODYSTRUCTURE; and the line that
// carries them.
//
// Invariants:
// - Every value is rendered from stored metadata and the ParsedMessage only.
// - INTERNALDATE is rendered in UTC with an explicit +0000 zone (RFC 9051 §9 date-time).

import { formatDateTime, quoted } from "./encode.js";
import { renderEnvelope } from "./envelope.js";
import { renderBodyBasic, renderBodyStructure } from "./bodystructure.js";
import { fetchResponseName, type FetchItem } from "./fetchatt.js";
import { renderFlagList } from "./flags.js";
import type { ParsedMessage } from "./mime.js";

export interface FetchContext {
  uid: number;
  flags: readonly string[];
  internalDate: Date;
  size: number;
  modseq: number;
  /** Needed for ENVELOPE, BODY, BODYSTRUCTURE. */
  parsed: ParsedMessage | null;
}

/** `NAME value` for an item that needs no message octets; null for section items (BODY[...],
 * BINARY[...], BINARY.SIZE, RFC822, RFC822.HEADER, RFC822.TEXT) and when `parsed` is missing. */
export function renderSimpleItem(item: FetchItem, m: FetchContext): string | null {
  switch (item.type) {
    case "FLAGS":
      return `FLAGS ${renderFlagList(m.flags)}`;
    case "INTERNALDATE":
      return `INTERNALDATE ${quoted(formatDateTime(m.internalDate))}`;
    case "RFC822.SIZE":
      return `RFC822.SIZE ${m.size}`;
    case "UID":
      return `UID ${m.uid}`;
    case "MODSEQ":
      return `MODSEQ (${m.modseq})`; // RFC 7162 §3.1.4.1: fetch-mod-resp = "MODSEQ" SP "(" permsg-modsequence ")"
    case "ENVELOPE":
      return m.parsed ? `ENVELOPE ${renderEnvelope(m.parsed.envelope)}` : null;
    case "BODY":
      return m.parsed ? `BODY ${renderBodyBasic(m.parsed)}` : null;
    case "BODYSTRUCTURE":
      return m.parsed ? `BODYSTRUCTURE ${renderBodyStructure(m.parsed)}` : null;
    default:
      return null;
  }
}

/** The head of a section item before its data: `BODY[1.MIME]<0> ` (add a literal or NIL). */
export function sectionItemHead(item: FetchItem): string {
  return fetchResponseName(item) + " ";
}

/** `* seq FETCH (item item ...)\r\n` (RFC 9051 §7.5.2). Items are already rendered. */
export function renderFetchLine(seq: number, items: readonly string[]): string {
  return `* ${seq} FETCH (${items.join(" ")})\r\n`;
}
