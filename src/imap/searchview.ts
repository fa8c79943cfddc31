// Builds the SEARCH evaluator's view of one stored message from what the store keeps
// (MessageMeta and the ParsedMessage in MessageMeta.parsed), so SEARCH on flags, dates, sizes and
// header fields never reads a message body.
//
// Invariants:
// - Header values are offered both as sent and with RFC 2047 encoded-words decoded, so a client
//   searching "Grüße" finds "=?ISO-8859-1?Q?Gr=FC=DFe?=" (RFC 9051 §6.4.4 matches on the text).
// - The sent date is the calendar day written in the Date: field, in the sender's zone
//   (RFC 9051 §6.4.4 SENTBEFORE/SENTON/SENTSINCE disregard time and timezone).

import type { MessageMeta } from "../store/types.js";
import { monthIndex, type Day } from "./encode.js";
import { decodeHeaderValue, type ParsedMessage } from "./mime.js";
import { storedHeaderValues } from "./bodystructure.js";
import type { SearchMessage } from "./search.js";

/** The day of an RFC 5322 §3.3 date-time ("Tue, 1 Nov 2022 23:30:00 -0800" -> 2022-11-01),
 * accepting obsolete two-digit years (RFC 5322 §4.3) and missing weekdays; null if unparseable. */
export function parseSentDay(value: string | null): Day | null {
  if (value === null) return null;
  const m = /(?:^|[\s,])(\d{1,2})\s+([A-Za-z]{3})[a-z]*\.?\s+(\d{2,4})(?:\s|$)/.exec(value);
  if (m) {
    const day = Number(m[1]);
    const month = monthIndex(m[2]!);
    let year = Number(m[3]);
    if (m[3]!.length === 2) year += year < 50 ? 2000 : 1900; // RFC 5322 §4.3 obs-year
    else if (m[3]!.length === 3) year += 1900;
    if (month >= 0 && day >= 1 && day <= 31) return { year, month: month + 1, day };
  }
  const iso = /^(\d{4})-(\d{2})-(\d{2})/.exec(value.trim());
  if (iso) return { year: Number(iso[1]), month: Number(iso[2]), day: Number(iso[3]) };
  return null;
}

export interface SearchViewInput {
  seq: number;
  meta: Pick<MessageMeta, "uid" | "flags" | "modseq" | "size" | "internalDate">;
  /** The stored structure; null for messages stored without one (then only flag, size, date
   * and sequence keys can match header fields through `readHeader`). */
  parsed: ParsedMessage | null;
  recent?: boolean;
  /** BODY/TEXT matcher, precomputed by the session (see search.ts textNeedles). */
  textMatches: SearchMessage["textMatches"];
  /** Header values when the stored ones were truncated or missing (read from the body file). */
  readHeader?: (name: string) => readonly string[];
}

/** The SearchMessage for one stored message. */
export function searchView(i: SearchViewInput): SearchMessage {
  const parsed = i.parsed;
  const cache = new Map<string, string[]>();
  return {
    seq: i.seq,
    uid: i.meta.uid,
    flags: i.meta.flags,
    modseq: i.meta.modseq,
    size: i.meta.size,
    internalDate: i.meta.internalDate,
    recent: i.recent ?? false,
    sentDay: parsed ? parseSentDay(parsed.envelope.date) : null,
    header(name: string): readonly string[] {
      const hit = cache.get(name);
      if (hit) return hit;
      const raw = (parsed && storedHeaderValues(parsed, name)) ?? (i.readHeader ? i.readHeader(name) : []);
      const out: string[] = [];
      for (const v of raw) {
        out.push(v);
        const d = decodeHeaderValue(v);
        if (d !== v) out.push(d);
      }
      cache.set(name, out);
      return out;
    },
    textMatches: i.textMatches,
  };
}
