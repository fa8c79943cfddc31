// Tests of sequence-set parsing, resolution and compact rendering.

import { test } from "node:test";
import assert from "node:assert/strict";
import { exceeds, formatSet, parseSequenceSet, resolveSequence, resolveUids, setMatcher, setToString, type SequenceSet } from "./sequence.js";

function set(s: string): SequenceSet {
  const r = parseSequenceSet(s);
  if ("error" in r) assert.fail(`${s}: ${r.error}`);
  return r;
}

test("parsing valid and invalid sets", () => {
  for (const ok of ["1", "1:*", "*", "*:4", "1,4,7:9", "$", "4294967295", "2:1"]) assert.equal(setToString(set(ok)), ok);
  for (const bad of ["", "0", "1:0", "01", "1,,2", "1:", ":1", "a", "4294967296", "1:2:3", "-1", "$,1", "1.5", " 1"]) {
    assert.ok("error" in parseSequenceSet(bad), bad);
  }
});

test("sequence numbers resolve against the message count, '*' is the last message", () => {
  const table: Array<[string, number, number[]]> = [
    ["1:*", 3, [1, 2, 3]],
    ["*", 3, [3]],
    ["*:2", 3, [2, 3]],
    ["2,1,2", 5, [1, 2]],
    ["4:9", 5, [4, 5]],
    ["7", 5, []],
    ["1:*", 0, []],
    ["1:4294967295", 3, [1, 2, 3]],
    ["3:1,5", 5, [1, 2, 3, 5]],
  ];
  for (const [s, count, want] of table) assert.deepEqual(resolveSequence(set(s), count), want, `${s} in ${count}`);
  assert.deepEqual(resolveSequence(set("$"), 10, [9, 2, 12]), [2, 9]);
  assert.equal(exceeds(set("1:7"), 5), true);
  assert.equal(exceeds(set("1:*"), 5), false);
});

test("UIDs resolve against the UIDs in use; 'n:*' always includes the highest (RFC 9051 §6.4.9)", () => {
  const uids = [3, 5, 8, 20, 21];
  const table: Array<[string, number[]]> = [
    ["1:*", [3, 5, 8, 20, 21]],
    ["*", [21]],
    ["100:*", [21]],
    ["4:8", [5, 8]],
    ["8:4", [5, 8]],
    ["6,7", []],
    ["1:4294967295", [3, 5, 8, 20, 21]],
    ["21,3,5:5", [3, 5, 21]],
  ];
  for (const [s, want] of table) assert.deepEqual(resolveUids(set(s), uids), want, s);
  assert.deepEqual(resolveUids(set("1:*"), []), []);
  assert.deepEqual(resolveUids(set("$"), uids, { saved: [8, 99, 3] }), [3, 8]);
});

test("matcher predicate agrees with resolution", () => {
  const s = set("1:3,10:*,7");
  const m = setMatcher(s, 12);
  assert.deepEqual([1, 2, 3, 4, 7, 9, 10, 12, 13].map(m), [true, true, true, false, true, false, true, true, false]);
  assert.equal(setMatcher(set("$"), 5, { saved: [4] })(4), true);
});

test("hostile sets cost the mailbox size, not the numbers written", () => {
  const many = Array.from({ length: 16000 }, () => "1:*").join(",");
  const t0 = Date.now();
  assert.equal(resolveSequence(set(many), 100000).length, 100000);
  assert.ok(Date.now() - t0 < 2000);
  assert.ok("error" in parseSequenceSet(Array.from({ length: 17000 }, () => "1").join(",")));
});

test("compact rendering for COPYUID / VANISHED / ESEARCH", () => {
  assert.equal(formatSet([1, 2, 3, 7]), "1:3,7");
  assert.equal(formatSet([]), "");
  assert.equal(formatSet([5]), "5");
  assert.equal(formatSet([7, 1, 2, 3]), "7,1:3", "order kept for COPYUID");
  assert.equal(formatSet([7, 1, 2, 3, 3], { sort: true }), "1:3,7");
  assert.equal(formatSet([4294967294, 4294967295]), "4294967294:4294967295");
});
