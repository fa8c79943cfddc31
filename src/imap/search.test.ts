// Tests of the SEARCH grammar, the evaluator and the SEARCH/ESEARCH writers.

import { test } from "node:test";
import assert from "node:assert/strict";
import { Cursor, ImapSyntaxError } from "./lexer.js";
import { compileSearch, parseSearchProgram, renderEsearch, renderSearch, savedResult, textNeedles, usesModseq, type SearchMessage, type SearchProgram } from "./search.js";

function parse(args: string): SearchProgram {
  return parseSearchProgram(new Cursor(Buffer.from(" " + args)));
}

function parseError(args: string): ImapSyntaxError {
  try {
    parse(args);
  } catch (e) {
    if (e instanceof ImapSyntaxError) return e;
    throw e;
  }
  assert.fail(`expected an error for ${args}`);
}

interface Fixture {
  seq: number;
  uid: number;
  flags: string[];
  size: number;
  date: string; // internal date ISO
  sent: string | null; // Date: header day "YYYY-MM-DD"
  headers: Record<string, string[]>;
  body: string;
  modseq: number;
  recent?: boolean;
}

const FIXTURES: Fixture[] = [
  { seq: 1, uid: 10, flags: ["\\Seen", "\\Answered"], size: 1200, date: "2024-01-05T23:30:00Z", sent: "2024-01-05", modseq: 5,
    headers: { from: ["Alice Example <alice@example.test>"], to: ["bob@example.test"], subject: ["Lunch on Friday?"], cc: [], bcc: [], "x-priority": ["1"] },
    body: "Shall we meet at noon?" },
  { seq: 2, uid: 11, flags: ["\\Flagged", "$Work"], size: 50000, date: "2024-02-10T08:00:00Z", sent: "2024-02-09", modseq: 9,
    headers: { from: ["Bob <bob@example.test>"], to: ["alice@example.test"], subject: ["Quarterly report"], cc: ["carol@example.test"], bcc: ["audit@example.test"] },
    body: "Please find the REPORT attached." },
  { seq: 3, uid: 15, flags: ["\\Deleted", "\\Draft"], size: 300, date: "2024-03-01T12:00:00Z", sent: null, modseq: 12, recent: true,
    headers: { from: ["Carol <carol@example.test>"], to: [], subject: ["Café ☕ plans"], cc: [], bcc: [] },
    body: "draft text" },
  { seq: 4, uid: 20, flags: [], size: 10, date: "2024-03-02T00:00:00Z", sent: "2024-03-02", modseq: 20, recent: true,
    headers: { from: [], to: [], subject: [""], cc: [], bcc: [] },
    body: "" },
];

function view(f: Fixture): SearchMessage {
  return {
    seq: f.seq, uid: f.uid, flags: f.flags, size: f.size, modseq: f.modseq, recent: f.recent ?? false,
    internalDate: new Date(f.date),
    sentDay: f.sent ? { year: Number(f.sent.slice(0, 4)), month: Number(f.sent.slice(5, 7)), day: Number(f.sent.slice(8, 10)) } : null,
    header: (name) => f.headers[name] ?? [],
    textMatches: (scope, needle) => {
      const hay = (scope === "text" ? Object.values(f.headers).flat().join("\n") + "\n" : "") + f.body;
      return hay.toLowerCase().includes(needle);
    },
  };
}

function run(args: string, saved?: number[]): number[] {
  const p = parse(args);
  const pred = compileSearch(p.key, { messageCount: FIXTURES.length, maxUid: 20, saved: saved ?? [] });
  return FIXTURES.map(view).filter(pred).map((m) => m.seq);
}

test("every RFC 9051 §6.4.4 key evaluates as specified", () => {
  const table: Array<[string, number[]]> = [
    ["ALL", [1, 2, 3, 4]],
    ["ANSWERED", [1]],
    ["UNANSWERED", [2, 3, 4]],
    ["DELETED", [3]],
    ["UNDELETED", [1, 2, 4]],
    ["DRAFT", [3]],
    ["UNDRAFT", [1, 2, 4]],
    ["FLAGGED", [2]],
    ["UNFLAGGED", [1, 3, 4]],
    ["SEEN", [1]],
    ["UNSEEN", [2, 3, 4]],
    ["KEYWORD $work", [2]],
    ["UNKEYWORD $Work", [1, 3, 4]],
    ["RECENT", [3, 4]],
    ["NEW", [3, 4]],
    ["OLD", [1, 2]],
    ["FROM alice", [1]],
    ["FROM EXAMPLE.TEST", [1, 2, 3]],
    ["TO \"alice@\"", [2]],
    ["CC carol", [2]],
    ["BCC audit", [2]],
    ["SUBJECT report", [2]],
    ["SUBJECT \"\"", [1, 2, 3, 4]],
    ["SUBJECT \"CAFÉ\"", [3]],
    ["NOT SEEN NOT SEEN", [2, 3, 4]],
    ["HEADER X-Priority 1", [1]],
    ["HEADER x-priority \"\"", [1]],
    ["BODY report", [2]],
    ["TEXT alice", [1, 2]],
    ["TEXT noon", [1]],
    ["BEFORE 10-Feb-2024", [1]],
    ["ON 10-Feb-2024", [2]],
    ["SINCE 10-Feb-2024", [2, 3, 4]],
    ["ON 5-Jan-2024", [1]],
    ["SENTBEFORE 10-Feb-2024", [1, 2, 3]], // no Date: counts as 1970
    ["SENTON 9-Feb-2024", [2]],
    ["SENTSINCE \"1-Mar-2024\"", [4]],
    ["LARGER 1200", [2]],
    ["SMALLER 300", [4]],
    ["1:2", [1, 2]],
    ["*", [4]],
    ["2,4:*", [2, 4]],
    ["UID 11:15", [2, 3]],
    ["UID *", [4]],
    ["UID 16:*", [4]],
    ["NOT SEEN", [2, 3, 4]],
    ["OR SEEN FLAGGED", [1, 2]],
    ["OR (SEEN ANSWERED) (DELETED DRAFT)", [1, 3]],
    ["NOT (SEEN OR DELETED DRAFT)", [1, 2, 3, 4]],
    ["NOT (UNSEEN OR DELETED DRAFT)", [1, 2, 4]],
    ["UNSEEN UNDELETED", [2, 4]],
    ["MODSEQ 10", [3, 4]],
    ["MODSEQ \"/flags/\\\\draft\" all 12", [3, 4]],
    ["(((ALL)))", [1, 2, 3, 4]],
  ];
  for (const [args, want] of table) assert.deepEqual(run(args), want, args);
});

test("$ names the saved result (RFC 5182)", () => {
  assert.deepEqual(run("$", [11, 20]), [2, 4]);
  assert.deepEqual(run("UID $", [10]), [1]);
  assert.deepEqual(run("NOT $", [10]), [2, 3, 4]);
});

test("CHARSET and RETURN options", () => {
  assert.equal(parse("CHARSET utf-8 ALL").charset, "UTF-8");
  assert.equal(parse("CHARSET \"US-ASCII\" ALL").charset, "US-ASCII");
  const e = parseError("CHARSET ISO-8859-1 ALL");
  assert.deepEqual([e.status, e.code], ["NO", "BADCHARSET (US-ASCII UTF-8)"]);
  assert.deepEqual(parse("RETURN () ALL").returnOpts, { min: false, max: false, count: false, all: true, save: false });
  assert.deepEqual(parse("RETURN (MIN MAX SAVE) CHARSET UTF-8 ALL").returnOpts, { min: true, max: true, count: false, all: false, save: true });
  assert.equal(parse("ALL").returnOpts, null);
  assert.equal(parseError("RETURN (BOGUS) ALL").status, "BAD");
});

test("syntax errors are BAD with a useful message", () => {
  const table: Array<[string, RegExp]> = [
    ["", /Expected a search key/],
    ["FROB", /Unknown search key FROB/],
    ["FROM", /Missing argument/],
    ["BEFORE 32-Jan-2024", /Invalid date/],
    ["BEFORE yesterday", /Invalid date/],
    ["LARGER x", /number/],
    ["OR SEEN", /Missing argument/],
    ["()", /Empty list/],
    ["(SEEN", /Expected|Missing/],
    ["UID 0", /Invalid sequence/],
    ["MODSEQ \"/flags/x\" bogus 5", /entry type/],
    ["SEEN  UNSEEN", /search key/],
    ["KEYWORD \\Seen", /keyword/],
  ];
  for (const [args, re] of table) {
    const e = parseError(args);
    assert.equal(e.status, "BAD", args);
    assert.match(e.message, re, args);
  }
  assert.match(parseError("NOT ".repeat(40) + "ALL").message, /nested too deeply/);
  assert.match(parseError(Array.from({ length: 1001 }, () => "SEEN").join(" ")).message, /too long/);
});

test("helpers: text needles and MODSEQ detection", () => {
  assert.deepEqual(textNeedles(parse("OR BODY Foo NOT TEXT Bar").key), [{ scope: "body", needle: "foo" }, { scope: "text", needle: "bar" }]);
  assert.equal(usesModseq(parse("SEEN").key), false);
  assert.equal(usesModseq(parse("OR SEEN NOT MODSEQ 5").key), true);
});

test("SEARCH and ESEARCH responses", () => {
  assert.equal(renderSearch([]), "* SEARCH\r\n");
  assert.equal(renderSearch([2, 5, 7]), "* SEARCH 2 5 7\r\n");
  assert.equal(renderSearch([2, 5], 917162500), "* SEARCH 2 5 (MODSEQ 917162500)\r\n");
  const all = { min: false, max: false, count: false, all: true, save: false };
  assert.equal(renderEsearch({ tag: "A282", uid: false, nums: [2, 10, 11], opts: { min: true, max: true, count: true, all: false, save: false } }),
    '* ESEARCH (TAG "A282") MIN 2 MAX 11 COUNT 3\r\n');
  assert.equal(renderEsearch({ tag: "A283", uid: true, nums: [1, 2, 3, 7, 9, 10], opts: all }), '* ESEARCH (TAG "A283") UID ALL 1:3,7,9:10\r\n');
  assert.equal(renderEsearch({ tag: "A284", uid: false, nums: [], opts: { min: true, max: true, count: true, all: true, save: false } }),
    '* ESEARCH (TAG "A284") COUNT 0\r\n');
  assert.equal(renderEsearch({ tag: "t", uid: false, nums: [4], opts: all, modseq: 42 }), '* ESEARCH (TAG "t") ALL 4 MODSEQ 42\r\n');
  assert.equal(renderEsearch({ tag: "t", uid: false, nums: [4], opts: { min: false, max: false, count: false, all: false, save: true } }), null);
  assert.deepEqual(savedResult([3, 5, 9], { min: true, max: true, count: false, all: false, save: true }), [3, 9]);
  assert.deepEqual(savedResult([3, 5, 9], { min: true, max: false, count: true, all: false, save: true }), [3, 5, 9]);
  assert.deepEqual(savedResult([3], { min: true, max: true, count: false, all: false, save: true }), [3]);
});

test("evaluation over 100,000 messages is fast", () => {
  const p = parse("OR (UNSEEN FLAGGED) (UID 5000:60000 LARGER 100)");
  const pred = compileSearch(p.key, { messageCount: 100000, maxUid: 100000 });
  const base = view(FIXTURES[1]!);
  const t0 = Date.now();
  let n = 0;
  for (let i = 1; i <= 100000; i++) if (pred({ ...base, seq: i, uid: i })) n++;
  assert.equal(n, 100000);
  assert.ok(Date.now() - t0 < 2000);
});
