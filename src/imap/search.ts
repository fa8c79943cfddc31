// SEARCH: the key grammar of RFC 9051 §6.4.4 (plus NEW/OLD/RECENT of RFC 3501, MODSEQ of RFC 7162
// §3.1.5, RETURN options of RFC 4731 / RFC 5182) as a typed AST, a compiler from the AST to a
// predicate over a message view, and the SEARCH / ESEARCH response writers.
//
// Invariants:
// - Parsing is pure and bounded: nesting deeper than MAX_SEARCH_DEPTH and more than
//   MAX_SEARCH_KEYS keys are refused with BAD, so a hostile program cannot blow the stack.
// - String keys match case-insensitively as substrings, and the empty string matches everything
//   that has the field (RFC 9051 §6.4.4).
// - Date keys compare calendar days only, disregarding time and timezone (RFC 9051 §6.4.4);
//   internal dates are taken in UTC.
// - Only UTF-8 and US-ASCII charsets are accepted; any other is NO [BADCHARSET] (RFC 9051 §6.4.4).

import { Cursor, ImapSyntaxError, utf8 } from "./lexer.js";
import { compareDays, dayOf, parseSearchDate, type Day } from "./encode.js";
import { formatSet, parseSequenceSet, setMatcher, type SequenceSet } from "./sequence.js";

export const MAX_SEARCH_DEPTH = 32;
export const MAX_SEARCH_KEYS = 1000;

/** RFC 9051 §6.4.4 system flags by the search key that tests them. */
const FLAG_KEYS: Record<string, [flag: string, present: boolean]> = {
  ANSWERED: ["\\Answered", true],
  DELETED: ["\\Deleted", true],
  DRAFT: ["\\Draft", true],
  FLAGGED: ["\\Flagged", true],
  SEEN: ["\\Seen", true],
  UNANSWERED: ["\\Answered", false],
  UNDELETED: ["\\Deleted", false],
  UNDRAFT: ["\\Draft", false],
  UNFLAGGED: ["\\Flagged", false],
  UNSEEN: ["\\Seen", false],
};

/** Keys whose argument is a header field matched by substring (RFC 9051 §6.4.4). */
const HEADER_KEYS: Record<string, string> = { BCC: "bcc", CC: "cc", FROM: "from", SUBJECT: "subject", TO: "to" };

export type DateOp = "before" | "on" | "since";

const EPOCH_DAY: Day = { year: 1970, month: 1, day: 1 };

export type SearchKey =
  | { type: "all" }
  | { type: "and"; keys: SearchKey[] }
  | { type: "or"; a: SearchKey; b: SearchKey }
  | { type: "not"; key: SearchKey }
  /** System flag or keyword present (`present: true`) or absent. */
  | { type: "flag"; flag: string; present: boolean }
  /** RFC 3501 \Recent-based keys (IMAP4rev1 only; RFC 9051 dropped them). */
  | { type: "recent" }
  | { type: "new" }
  | { type: "old" }
  /** Substring of a header field; `field` is lower-case. */
  | { type: "header"; field: string; value: string }
  | { type: "body"; value: string }
  | { type: "text"; value: string }
  | { type: "date"; which: "internal" | "sent"; op: DateOp; day: Day }
  | { type: "size"; op: "larger" | "smaller"; size: number }
  | { type: "seq"; set: SequenceSet }
  | { type: "uid"; set: SequenceSet }
  /** RFC 7162 §3.1.5: MODSEQ >= value. `entry` is parsed and ignored (per-message modseq). */
  | { type: "modseq"; modseq: number; entry: { name: string; kind: "priv" | "shared" | "all" } | null };

export interface SearchReturn {
  min: boolean;
  max: boolean;
  count: boolean;
  all: boolean;
  save: boolean;
}

export interface SearchProgram {
  charset: "UTF-8" | "US-ASCII" | null;
  /** RFC 4731: present when the command had RETURN (...). `RETURN ()` means ALL. */
  returnOpts: SearchReturn | null;
  /** The criteria; several keys at the top level are ANDed. */
  key: SearchKey;
}

/** Parses the arguments of SEARCH after the command name (the cursor is on the SP). */
export function parseSearchProgram(c: Cursor): SearchProgram {
  c.sp();
  let returnOpts: SearchReturn | null = null;
  if (c.tryWord("RETURN")) {
    // RFC 4731 §3: search-return-opts
    c.sp();
    const opts: SearchReturn = { min: false, max: false, count: false, all: false, save: false };
    const names = c.list(() => c.atom("a return option").toUpperCase());
    for (const n of names) {
      if (n === "MIN") opts.min = true;
      else if (n === "MAX") opts.max = true;
      else if (n === "COUNT") opts.count = true;
      else if (n === "ALL") opts.all = true;
      else if (n === "SAVE") opts.save = true; // RFC 5182 §2
      else throw new ImapSyntaxError(`Unknown SEARCH return option ${n}`);
    }
    if (names.length === 0) opts.all = true; // RFC 4731 §3.1: RETURN () is RETURN (ALL)
    returnOpts = opts;
    c.sp();
  }
  let charset: SearchProgram["charset"] = null;
  if (c.tryWord("CHARSET")) {
    c.sp();
    const cs = c.astring("a charset").toUpperCase();
    if (cs === "UTF-8" || cs === "UTF8") charset = "UTF-8";
    else if (cs === "US-ASCII" || cs === "ASCII") charset = "US-ASCII";
    else throw new ImapSyntaxError(`Unsupported charset ${cs.slice(0, 40)}`, "NO", "BADCHARSET (US-ASCII UTF-8)"); // RFC 9051 §6.4.4
    c.sp();
  }
  const state = { keys: 0 };
  const keys: SearchKey[] = [parseKey(c, 0, state)];
  while (c.trySp()) keys.push(parseKey(c, 0, state));
  c.expectEnd();
  return { charset, returnOpts, key: keys.length === 1 ? keys[0]! : { type: "and", keys } };
}

function date(c: Cursor): Day {
  c.sp();
  // RFC 9051 §9: date = date-text / DQUOTE date-text DQUOTE
  const s = c.atString() ? utf8(c.string()) : c.atom("a date");
  const d = parseSearchDate(s);
  if (!d) throw new ImapSyntaxError(`Invalid date "${s.slice(0, 40)}"`);
  return d;
}

function parseKey(c: Cursor, depth: number, state: { keys: number }): SearchKey {
  if (depth > MAX_SEARCH_DEPTH) throw new ImapSyntaxError("Search program nested too deeply");
  if (++state.keys > MAX_SEARCH_KEYS) throw new ImapSyntaxError("Search program too long");
  if (c.peek() === 0x28) {
    // RFC 9051 §9: "(" search-key *(SP search-key) ")"
    const keys = c.list(() => parseKey(c, depth + 1, state), false);
    return keys.length === 1 ? keys[0]! : { type: "and", keys };
  }
  const p = c.peek();
  if ((p >= 0x30 && p <= 0x39) || p === 0x2a || p === 0x24) return { type: "seq", set: seqSet(c) };
  const word = c.atom("a search key").toUpperCase();
  const flag = FLAG_KEYS[word];
  if (flag) return { type: "flag", flag: flag[0], present: flag[1] };
  const hdr = HEADER_KEYS[word];
  if (hdr) {
    c.sp();
    return { type: "header", field: hdr, value: c.astring() };
  }
  switch (word) {
    case "ALL":
      return { type: "all" };
    case "NEW":
      return { type: "new" };
    case "OLD":
      return { type: "old" };
    case "RECENT":
      return { type: "recent" };
    case "KEYWORD":
    case "UNKEYWORD": {
      c.sp();
      const kw = c.atom("a keyword"); // RFC 9051 §9 flag-keyword = atom
      return { type: "flag", flag: kw, present: word === "KEYWORD" };
    }
    case "BEFORE":
    case "ON":
    case "SINCE":
      return { type: "date", which: "internal", op: word.toLowerCase() as DateOp, day: date(c) };
    case "SENTBEFORE":
    case "SENTON":
    case "SENTSINCE":
      return { type: "date", which: "sent", op: word.slice(4).toLowerCase() as DateOp, day: date(c) };
    case "BODY":
      c.sp();
      return { type: "body", value: c.astring() };
    case "TEXT":
      c.sp();
      return { type: "text", value: c.astring() };
    case "HEADER": {
      c.sp();
      const field = c.astring("a header field name");
      c.sp();
      return { type: "header", field: field.toLowerCase(), value: c.astring() };
    }
    case "LARGER":
    case "SMALLER":
      c.sp();
      // RFC 9051 §9: number64
      return { type: "size", op: word === "LARGER" ? "larger" : "smaller", size: c.number(Number.MAX_SAFE_INTEGER) };
    case "NOT":
      c.sp();
      return { type: "not", key: parseKey(c, depth + 1, state) };
    case "OR": {
      c.sp();
      const a = parseKey(c, depth + 1, state);
      c.sp();
      const b = parseKey(c, depth + 1, state);
      return { type: "or", a, b };
    }
    case "UID":
      c.sp();
      return { type: "uid", set: seqSet(c) };
    case "MODSEQ": {
      // RFC 7162 §3.1.5: "MODSEQ" [SP entry-name SP entry-type-req] SP mod-sequence-valzer
      c.sp();
      let entry: { name: string; kind: "priv" | "shared" | "all" } | null = null;
      if (c.atString()) {
        const name = utf8(c.string());
        c.sp();
        const kind = c.atom("an entry type").toLowerCase();
        if (kind !== "priv" && kind !== "shared" && kind !== "all") throw new ImapSyntaxError("Invalid MODSEQ entry type");
        entry = { name, kind };
        c.sp();
      }
      return { type: "modseq", modseq: c.modseq(true), entry };
    }
    default:
      throw new ImapSyntaxError(`Unknown search key ${word.slice(0, 40)}`);
  }
}

function seqSet(c: Cursor): SequenceSet {
  const r = parseSequenceSet(c.sequenceToken());
  if ("error" in r) throw new ImapSyntaxError(r.error);
  return r;
}

// ---------------------------------------------------------------------------------------------
// Evaluation

/** What the evaluator needs to know about one message. */
export interface SearchMessage {
  seq: number;
  uid: number;
  flags: readonly string[];
  modseq: number;
  /** RFC822.SIZE */
  size: number;
  internalDate: Date;
  /** IMAP4rev1 \Recent; false when unknown. */
  recent?: boolean;
  /** The day of the Date: header (its own zone), null when absent or unparseable (then SENT*
   * keys treat the message as sent on 1-Jan-1970). */
  sentDay: Day | null;
  /** Values of a header field (name lower-case), ready for matching (e.g. encoded-words decoded);
   * an empty array when the message has no such field. */
  header(name: string): readonly string[];
  /** Case-insensitive substring match in the body ("body") or in header and body ("text").
   * `needle` is already lower-cased. The session precomputes these (see textNeedles). */
  textMatches(scope: "body" | "text", needle: string): boolean;
}

export interface SearchContext {
  /** Messages in the mailbox: "*" in a sequence set (RFC 9051 §9 seq-number). */
  messageCount: number;
  /** Highest UID in the mailbox: "*" in a UID set. */
  maxUid: number;
  /** UIDs saved by SEARCH RETURN (SAVE), for "$" (RFC 5182). */
  saved?: readonly number[];
}

export type SearchPredicate = (m: SearchMessage) => boolean;

/** Compiles a key once, for evaluation over many messages. */
export function compileSearch(key: SearchKey, ctx: SearchContext): SearchPredicate {
  switch (key.type) {
    case "all":
      return () => true;
    case "and": {
      const ps = key.keys.map((k) => compileSearch(k, ctx));
      return (m) => ps.every((p) => p(m));
    }
    case "or": {
      const a = compileSearch(key.a, ctx);
      const b = compileSearch(key.b, ctx);
      return (m) => a(m) || b(m);
    }
    case "not": {
      const p = compileSearch(key.key, ctx);
      return (m) => !p(m);
    }
    case "flag": {
      const f = key.flag.toLowerCase(); // RFC 9051 §2.3.2: flags compare case-insensitively
      // For an ASCII flag, only a flag of the same length can lower-case to it (the one
      // length-changing lower-case mapping, U+0130, gives non-ASCII): skip the others cheaply.
      const ascii = /^[\x00-\x7f]*$/.test(f);
      const has = (m: SearchMessage) => m.flags.some((x) => (!ascii || x.length === f.length) && x.toLowerCase() === f);
      return key.present ? has : (m) => !has(m);
    }
    case "recent":
      return (m) => m.recent === true;
    case "new": // RFC 3501 §6.4.4: NEW = RECENT UNSEEN
      return (m) => m.recent === true && !m.flags.some((x) => x.toLowerCase() === "\\seen");
    case "old":
      return (m) => m.recent !== true;
    case "header": {
      const needle = key.value.toLowerCase();
      const field = key.field;
      // RFC 9051 §6.4.4: a zero-length string matches every message that has the field.
      return (m) => m.header(field).some((v) => v.toLowerCase().includes(needle));
    }
    case "body":
    case "text": {
      const needle = key.value.toLowerCase();
      const scope = key.type;
      return (m) => m.textMatches(scope, needle);
    }
    case "date": {
      const { day, op, which } = key;
      return (m) => {
        // A missing or unparseable Date: counts as 1-Jan-1970, as Dovecot does (RFC 9051 is silent).
        const d = which === "internal" ? dayOf(m.internalDate) : (m.sentDay ?? EPOCH_DAY);
        const cmp = compareDays(d, day);
        return op === "before" ? cmp < 0 : op === "on" ? cmp === 0 : cmp >= 0; // RFC 9051 §6.4.4 SINCE: on or after
      };
    }
    case "size": {
      const n = key.size;
      return key.op === "larger" ? (m) => m.size > n : (m) => m.size < n;
    }
    case "seq": {
      if (key.set.kind === "saved") {
        // RFC 5182 §2.1: "$" names the saved messages wherever a sequence set may appear.
        const saved = new Set(ctx.saved ?? []);
        return (m) => saved.has(m.uid);
      }
      const inSet = setMatcher(key.set, ctx.messageCount);
      return (m) => inSet(m.seq);
    }
    case "uid": {
      const inSet = setMatcher(key.set, ctx.maxUid, { saved: ctx.saved ?? [] });
      return (m) => inSet(m.uid);
    }
    case "modseq": {
      const v = key.modseq;
      return (m) => m.modseq >= v;
    }
  }
}

/** The BODY/TEXT needles of a program (lower-cased), so the session can precompute matches
 * (e.g. with a full-text index) before running the synchronous predicate. */
export function textNeedles(key: SearchKey): Array<{ scope: "body" | "text"; needle: string }> {
  const out: Array<{ scope: "body" | "text"; needle: string }> = [];
  const walk = (k: SearchKey): void => {
    if (k.type === "body" || k.type === "text") out.push({ scope: k.type, needle: k.value.toLowerCase() });
    else if (k.type === "and") k.keys.forEach(walk);
    else if (k.type === "or") {
      walk(k.a);
      walk(k.b);
    } else if (k.type === "not") walk(k.key);
  };
  walk(key);
  return out;
}

/** True when the program uses MODSEQ, so responses carry the MODSEQ of the result (RFC 7162 §3.1.5). */
export function usesModseq(key: SearchKey): boolean {
  switch (key.type) {
    case "modseq":
      return true;
    case "and":
      return key.keys.some(usesModseq);
    case "or":
      return usesModseq(key.a) || usesModseq(key.b);
    case "not":
      return usesModseq(key.key);
    default:
      return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Responses

/** `* SEARCH n n n` (RFC 9051 §7.3.5, for IMAP4rev1 clients without ESEARCH), with
 * `(MODSEQ n)` when the program used MODSEQ and something matched (RFC 7162 §3.1.5). */
export function renderSearch(nums: readonly number[], modseq: number | null = null): string {
  let s = "* SEARCH";
  for (const n of nums) s += " " + n;
  if (modseq !== null && nums.length > 0) s += ` (MODSEQ ${modseq})`;
  return s + "\r\n";
}

/** The numbers SAVE keeps (RFC 5182 §2.4): only MIN and/or MAX when those are the only other
 * options, otherwise every match. `nums` ascending. */
export function savedResult(nums: readonly number[], opts: SearchReturn): number[] {
  if (!opts.all && !opts.count && (opts.min || opts.max) && nums.length > 0) {
    const out: number[] = [];
    if (opts.min) out.push(nums[0]!);
    if (opts.max && (!opts.min || nums.length > 1)) out.push(nums[nums.length - 1]!);
    return out;
  }
  return nums.slice();
}

/** `* ESEARCH (TAG "t") [UID] [MIN n] [MAX n] [COUNT n] [ALL set] [MODSEQ n]` (RFC 4731 §3.1);
 * null when only SAVE was asked for (RFC 5182 §2.1: no ESEARCH response then). `nums` ascending. */
export function renderEsearch(o: { tag: string; uid: boolean; nums: readonly number[]; opts: SearchReturn; modseq?: number | null }): string | null {
  const { opts, nums } = o;
  if (opts.save && !opts.min && !opts.max && !opts.count && !opts.all) return null;
  let s = `* ESEARCH (TAG "${o.tag.replace(/[\\"]/g, (m) => "\\" + m)}")`;
  if (o.uid) s += " UID";
  if (nums.length > 0) {
    if (opts.min) s += ` MIN ${nums[0]}`;
    if (opts.max) s += ` MAX ${nums[nums.length - 1]}`;
  }
  if (opts.count) s += ` COUNT ${nums.length}`;
  if (opts.all && nums.length > 0) s += ` ALL ${formatSet(nums)}`; // RFC 4731 §3.1: omitted when empty
  if (o.modseq !== null && o.modseq !== undefined && nums.length > 0) s += ` MODSEQ ${o.modseq}`;
  return s + "\r\n";
}
