// Sequence sets (RFC 9051 §9 `sequence-set`): parsing, resolution against a mailbox, and compact
// rendering of UID sets for COPYUID / VANISHED / ESEARCH (RFC 4315 §3, RFC 7162 §3.2.10).
//
// Invariants:
// - Numbers are nz-number: 1 .. 4294967295 (RFC 9051 §9 `nz-number`, `number` is 32-bit). "0" and
//   larger values are refused at parse time.
// - "*" stands for the largest number in use (RFC 9051 §9 `seq-number`): the message count for
//   sequence numbers, the highest UID for UIDs. A range "a:b" is the same as "b:a".
// - Resolution never expands a range blindly: cost is bounded by the mailbox size, not by the
//   numbers the client wrote ("1:4294967295" on a 3-message mailbox costs 3).

export const MAX_NUMBER = 4294967295;

export type SeqNumber = number | "*";

export interface SeqRange {
  start: SeqNumber;
  end: SeqNumber;
}

/** A parsed sequence set, or "$": the result saved by SEARCH RETURN (SAVE) (RFC 5182 §2.1). */
export type SequenceSet = { kind: "set"; ranges: SeqRange[] } | { kind: "saved" };

/** Upper bound on comma-separated elements, so a hostile set cannot cost more than its line. */
export const MAX_SET_ELEMENTS = 16384;

/** Parses a sequence set; returns an error text (for BAD) instead of throwing. */
export function parseSequenceSet(s: string): SequenceSet | { error: string } {
  if (s === "$") return { kind: "saved" }; // RFC 5182 §2.1
  if (s.length === 0) return { error: "Empty sequence set" };
  const parts = s.split(",");
  if (parts.length > MAX_SET_ELEMENTS) return { error: "Sequence set too long" };
  const ranges: SeqRange[] = [];
  for (const p of parts) {
    const colon = p.indexOf(":");
    if (colon < 0) {
      const n = parseSeqNumber(p);
      if (n === null) return { error: `Invalid sequence number "${clip(p)}"` };
      ranges.push({ start: n, end: n });
    } else {
      const a = parseSeqNumber(p.slice(0, colon));
      const b = parseSeqNumber(p.slice(colon + 1));
      if (a === null || b === null) return { error: `Invalid sequence range "${clip(p)}"` };
      ranges.push({ start: a, end: b });
    }
  }
  return { kind: "set", ranges };
}

function parseSeqNumber(s: string): SeqNumber | null {
  if (s === "*") return "*";
  if (!/^[1-9][0-9]{0,9}$/.test(s)) return null; // RFC 9051 §9 nz-number: no leading zero
  const n = Number(s);
  return n <= MAX_NUMBER ? n : null;
}

function clip(s: string): string {
  return s.length > 32 ? s.slice(0, 32) + "..." : s;
}

/** Normalised [lo, hi] pairs with "*" replaced by `star` (RFC 9051 §9 seq-number). */
function bounds(set: { ranges: SeqRange[] }, star: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const r of set.ranges) {
    const a = r.start === "*" ? star : r.start;
    const b = r.end === "*" ? star : r.end;
    out.push(a <= b ? [a, b] : [b, a]);
  }
  return out;
}

/** What "$" stands for when resolving: the UIDs saved by the last SEARCH RETURN (SAVE) (RFC 5182). */
export interface ResolveContext {
  saved?: readonly number[];
}

/**
 * Message sequence numbers selected by `set` in a mailbox of `count` messages, ascending, each
 * once. Numbers above `count` are dropped (the session decides whether that is an error:
 * RFC 9051 §6.4.5 lets servers answer BAD or ignore them). For "$" pass `savedSeqs`: the saved
 * UIDs already mapped to current sequence numbers.
 */
export function resolveSequence(set: SequenceSet, count: number, savedSeqs: readonly number[] = []): number[] {
  if (set.kind === "saved") return uniqueSorted(savedSeqs.filter((n) => n >= 1 && n <= count));
  if (count === 0) return [];
  const out: number[] = [];
  for (const [lo, hi] of mergeRanges(bounds(set, count))) {
    for (let n = Math.max(lo, 1); n <= Math.min(hi, count); n++) out.push(n);
  }
  return out;
}

/**
 * UIDs of `uids` (the mailbox's UIDs, ascending) selected by `set`, ascending. "*" is the highest
 * UID in the mailbox, so "559:*" always includes the last message even when 559 is above every
 * UID (RFC 9051 §6.4.9). "$" resolves to the saved UIDs that still exist.
 */
export function resolveUids(set: SequenceSet, uids: readonly number[], ctx: ResolveContext = {}): number[] {
  if (uids.length === 0) return [];
  if (set.kind === "saved") {
    const saved = new Set(ctx.saved ?? []);
    return uids.filter((u) => saved.has(u));
  }
  const star = uids[uids.length - 1]!;
  const ranges = mergeRanges(bounds(set, star));
  const out: number[] = [];
  for (const [lo, hi] of ranges) {
    for (let i = lowerBound(uids, lo); i < uids.length && uids[i]! <= hi; i++) out.push(uids[i]!);
  }
  return out;
}

/** A predicate form, for SEARCH: does `n` fall in `set` given "*" = `star`? */
export function setMatcher(set: SequenceSet, star: number, ctx: ResolveContext = {}): (n: number) => boolean {
  if (set.kind === "saved") {
    const saved = new Set(ctx.saved ?? []);
    return (n) => saved.has(n);
  }
  const ranges = mergeRanges(bounds(set, star));
  if (ranges.length === 1) {
    const [lo, hi] = ranges[0]!;
    return (n) => n >= lo && n <= hi;
  }
  return (n) => {
    // binary search over disjoint sorted ranges
    let a = 0;
    let b = ranges.length - 1;
    while (a <= b) {
      const m = (a + b) >> 1;
      const [lo, hi] = ranges[m]!;
      if (n < lo) b = m - 1;
      else if (n > hi) a = m + 1;
      else return true;
    }
    return false;
  };
}

/** True when the set mentions a number (other than "*") above `max`; e.g. for a BAD on FETCH of
 * sequence numbers that do not exist (RFC 9051 §6.4.5 allows either BAD or ignoring). */
export function exceeds(set: SequenceSet, max: number): boolean {
  if (set.kind === "saved") return false;
  return set.ranges.some((r) => (r.start !== "*" && r.start > max) || (r.end !== "*" && r.end > max));
}

function mergeRanges(rs: Array<[number, number]>): Array<[number, number]> {
  const sorted = rs.slice().sort((x, y) => x[0] - y[0]);
  const out: Array<[number, number]> = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
    else out.push([r[0], r[1]]);
  }
  return out;
}

function lowerBound(a: readonly number[], v: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const m = (lo + hi) >> 1;
    if (a[m]! < v) lo = m + 1;
    else hi = m;
  }
  return lo;
}

function uniqueSorted(a: readonly number[]): number[] {
  return Array.from(new Set(a)).sort((x, y) => x - y);
}

/**
 * Compact rendering of numbers as a sequence set: consecutive ascending runs become "a:b"
 * ("1:3,7"). Order is kept (COPYUID pairs source and destination sets by position, RFC 4315 §3);
 * pass `sort: true` for sets where order does not matter (VANISHED, ESEARCH ALL).
 */
export function formatSet(nums: readonly number[], opts: { sort?: boolean } = {}): string {
  const a = opts.sort ? uniqueSorted(nums) : nums;
  const parts: string[] = [];
  let i = 0;
  while (i < a.length) {
    let j = i;
    while (j + 1 < a.length && a[j + 1] === a[j]! + 1) j++;
    parts.push(j > i ? `${a[i]}:${a[j]}` : String(a[i]));
    i = j + 1;
  }
  return parts.join(",");
}

/** Renders a parsed set back to wire form (for echoing, e.g. in tests and logs). */
export function setToString(set: SequenceSet): string {
  if (set.kind === "saved") return "$";
  return set.ranges.map((r) => (r.start === r.end ? String(r.start) : `${r.start}:${r.end}`)).join(",");
}
