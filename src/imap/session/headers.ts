// The searchable header of stored messages, shared by all IMAP sessions of one server: for each
// message, the top-level header fields SEARCH matches on (RFC 9051 §6.4.4 FROM, TO, CC, BCC,
// SUBJECT, HEADER) and the day of its Date: field (SENTBEFORE/SENTON/SENTSINCE), so repeated
// header searches neither decode stored structures nor read body files again.
//
// Invariants:
// - Keyed by the store-wide message id: a stored body and its structure never change, and ids are
//   never reused (store/db.ts), so an entry never goes stale; an expunged message's entry is
//   simply never asked for again and ages out.
// - A record answers exactly what the evaluator saw before this cache existed (searchview.ts):
//   the values of the stored structure's header fields, or of the whole header read from the
//   body file when the structure left the field out or was truncated (values() answers null
//   until `full` is loaded), each as sent plus RFC 2047-decoded when different.
// - Bounded: at most MAX_CACHED_HEADER_CHARS characters of header text over all records (least
//   recently stored first out).

import { decodeHeaderValue, type HeaderField, type ParsedMessage } from "../mime.js";
import { parseSentDay } from "../searchview.js";
import type { Day } from "../encode.js";

/** Header text kept over all records (characters of names and values, plus FIELD_OVERHEAD per
 * field for the arrays holding them): about 30,000 messages of ordinary mail per 16 M. */
export const MAX_CACHED_HEADER_CHARS = 16 * 1024 * 1024;
const FIELD_OVERHEAD = 40;

export class HeaderRecord {
  readonly sentDay: Day | null;
  /** Octets of the top-level header in the body file (where the full header ends). */
  readonly bodyStart: number;
  private readonly fields: ReadonlyArray<readonly [string, string]>;
  private readonly omitted: readonly string[];
  private readonly truncated: boolean;
  /** Every top-level field, read from the body file when the stored ones cannot answer. */
  private full: HeaderField[] | null = null;
  private readonly memo = new Map<string, readonly string[]>();
  /** Characters held (for the cache bound). */
  weight: number;

  constructor(parsed: ParsedMessage) {
    this.sentDay = parseSentDay(parsed.envelope.date);
    this.bodyStart = parsed.root.bodyStart;
    this.fields = parsed.headers;
    this.omitted = parsed.headersOmitted;
    this.truncated = parsed.headersTruncated;
    let w = 64;
    for (const [k, v] of this.fields) w += k.length + v.length + FIELD_OVERHEAD;
    this.weight = w;
  }

  /** Does the stored field list answer for `name` (lower-case), or is the full header needed? */
  needsFull(name: string): boolean {
    return this.full === null && (this.truncated || this.omitted.includes(name));
  }

  setFull(fields: HeaderField[]): number {
    this.full = fields;
    let w = 0;
    for (const f of fields) w += f.name.length + f.value.length + FIELD_OVERHEAD;
    this.weight += w;
    return w;
  }

  /** The values of a field (name lower-case) ready for matching: as sent, and with RFC 2047
   * encoded-words decoded when that differs; null when the full header must be loaded first. */
  values(name: string): readonly string[] | null {
    const hit = this.memo.get(name);
    if (hit) return hit;
    if (this.needsFull(name)) return null;
    const raw: string[] = [];
    if (this.full) {
      for (const f of this.full) if (f.name.toLowerCase() === name) raw.push(f.value);
    } else {
      for (const [k, v] of this.fields) if (k.toLowerCase() === name) raw.push(v);
    }
    const out: string[] = [];
    for (const v of raw) {
      out.push(v);
      const d = decodeHeaderValue(v);
      if (d !== v) out.push(d);
    }
    this.memo.set(name, out);
    return out;
  }
}

export class HeaderCache {
  /** Insertion order (oldest first). */
  private readonly map = new Map<number, HeaderRecord>();
  private chars = 0;

  constructor(private readonly maxChars = MAX_CACHED_HEADER_CHARS) {}

  /** The record of a message, if kept. (Not moved to the young end: a search touches every
   * message of a mailbox, so eviction is by age of insertion.) */
  get(messageId: number): HeaderRecord | undefined {
    return this.map.get(messageId);
  }

  /** Keeps a record for a message's structure (once per message id). */
  put(messageId: number, parsed: ParsedMessage): HeaderRecord {
    const old = this.map.get(messageId);
    if (old) return old;
    const r = new HeaderRecord(parsed);
    this.map.set(messageId, r);
    this.chars += r.weight;
    this.trim(messageId);
    return r;
  }

  /** Adds the whole header read from the body file to a record. */
  setFull(messageId: number, r: HeaderRecord, fields: HeaderField[]): void {
    const added = r.setFull(fields);
    if (this.map.get(messageId) === r) {
      this.chars += added;
      this.trim(messageId);
    }
  }

  private trim(keep: number): void {
    for (const [id, r] of this.map) {
      if (this.chars <= this.maxChars) return;
      if (id === keep) continue;
      this.map.delete(id);
      this.chars -= r.weight;
    }
  }
}
