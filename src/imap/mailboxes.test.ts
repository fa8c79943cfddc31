// Tests of LIST pattern matching and mailbox-name validation.

import { test } from "node:test";
import assert from "node:assert/strict";
import { checkMailboxName, listPattern, parentsOf, patternMatcher } from "./mailboxes.js";

const NAMES = ["INBOX", "INBOX/Receipts", "Sent", "Archive", "Archive/2023", "Archive/2023/Q1", "Archive/2024", "Entwürfe", "a*b"];

function list(reference: string, pattern: string): string[] {
  const m = patternMatcher(listPattern(reference, pattern));
  return NAMES.filter(m);
}

test("LIST wildcards and references (RFC 9051 §6.3.9)", () => {
  assert.deepEqual(list("", "*"), NAMES);
  assert.deepEqual(list("", "%"), ["INBOX", "Sent", "Archive", "Entwürfe", "a*b"]);
  assert.deepEqual(list("", "Archive/%"), ["Archive/2023", "Archive/2024"]);
  assert.deepEqual(list("Archive", "%"), ["Archive/2023", "Archive/2024"]);
  assert.deepEqual(list("Archive/", "*"), ["Archive/2023", "Archive/2023/Q1", "Archive/2024"]);
  assert.deepEqual(list("", "Archive*"), ["Archive", "Archive/2023", "Archive/2023/Q1", "Archive/2024"]);
  assert.deepEqual(list("", "inbox"), ["INBOX"]);
  assert.deepEqual(list("", "Inbox/%"), ["INBOX/Receipts"]);
  assert.deepEqual(list("", "*/Q1"), ["Archive/2023/Q1"]);
  assert.deepEqual(list("", "%/%/%"), ["Archive/2023/Q1"]);
  assert.deepEqual(list("", "Entw%rfe"), ["Entwürfe"]);
  assert.deepEqual(list("", "sent"), [], "only INBOX is case-insensitive");
  assert.deepEqual(list("", ""), []);
});

test("a hostile pattern stays fast", () => {
  const m = patternMatcher("*a*a*a*a*a*a*a*a*a*a*a*a*b");
  const t0 = Date.now();
  assert.equal(m("a".repeat(500)), false);
  assert.ok(Date.now() - t0 < 500);
});

test("names a client may create", () => {
  for (const ok of ["Work", "Work/Projects", "Entwürfe", "INBOX/Sub", "日本語", "a.b", "😀"]) assert.equal(checkMailboxName(ok), null, ok);
  for (const bad of ["", "/x", "x/", "a//b", "a*b", "a%b", "a\tb", "a/../b", "x".repeat(600), Array.from({ length: 40 }, () => "d").join("/")]) {
    assert.notEqual(checkMailboxName(bad), null, bad);
  }
  assert.deepEqual(parentsOf("a/b/c"), ["a", "a/b"]);
  assert.deepEqual(parentsOf("a"), []);
});
