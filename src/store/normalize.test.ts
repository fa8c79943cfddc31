import { test } from "node:test";
import assert from "node:assert/strict";
import {
  applyFlagOp,
  canonicalFlag,
  decodeFlags,
  encodeFlags,
  normaliseAddress,
  normaliseDomain,
  normaliseFlags,
  normaliseMailboxName,
} from "./normalize.js";
import { StoreError } from "./types.js";

const invalid = (e: unknown) => e instanceof StoreError && e.code === "invalid";

test("addresses and domains are lower-cased; bad ones refused", () => {
  const good: Array<[string, string]> = [
    ["User@Example.TEST", "user@example.test"],
    [" a.b+c@x.test. ", "a.b+c@x.test"],
    ['"q@x"@example.test', '"q@x"@example.test'],
  ];
  for (const [input, want] of good) assert.equal(normaliseAddress(input), want);
  for (const bad of ["", "@x.test", "user@", "user", "a b@x.test", "a@x..test", "a@x.test\r\n", "a\u0000@x.test", "a@" + "x".repeat(400)]) {
    assert.throws(() => normaliseAddress(bad), invalid, JSON.stringify(bad));
  }
  assert.equal(normaliseDomain("MAIL.Example.Test."), "mail.example.test");
  for (const bad of ["", ".", ".x", "a b", "a@b", "a/b"]) assert.throws(() => normaliseDomain(bad), invalid, bad);
});

test("mailbox names: INBOX is case-insensitive, no empty levels or control characters", () => {
  const good: Array<[string, string]> = [
    ["inbox", "INBOX"],
    ["Inbox/Sub", "INBOX/Sub"],
    ["Archive/2025", "Archive/2025"],
    ["Ünïcødé/日本", "Ünïcødé/日本"],
    ["inboxes", "inboxes"],
  ];
  for (const [input, want] of good) assert.equal(normaliseMailboxName(input), want);
  for (const bad of ["", "/", "a/", "/a", "a//b", "a\tb", "a\u0000", "x".repeat(1001)]) {
    assert.throws(() => normaliseMailboxName(bad), invalid, JSON.stringify(bad));
  }
});

test("flags: system flags canonical, unknown system flags and non-atoms refused", () => {
  assert.equal(canonicalFlag("\\SEEN"), "\\Seen");
  assert.equal(canonicalFlag("\\draft"), "\\Draft");
  assert.equal(canonicalFlag("$MDNSent"), "$MDNSent");
  for (const bad of ["\\Recent", "\\Whatever", "", "a b", "a(b", "a)b", "a{b", "a%b", "a*b", 'a"b', "a\\b", "a]b", "é", "a\u0001"]) {
    assert.throws(() => canonicalFlag(bad), invalid, JSON.stringify(bad));
  }
  assert.deepEqual(normaliseFlags(["kw", "\\deleted", "\\Seen", "KW", "\\SEEN", "$Other"]), ["\\Seen", "\\Deleted", "kw", "$Other"]);
  assert.deepEqual(normaliseFlags([]), []);
});

test("flag operations: set, add, remove with case-insensitive keywords", () => {
  const cur = ["\\Seen", "$Label"];
  assert.deepEqual(applyFlagOp(cur, "add", ["$label", "\\flagged"]), ["\\Seen", "\\Flagged", "$Label"]);
  assert.deepEqual(applyFlagOp(cur, "remove", ["$LABEL"]), ["\\Seen"]);
  assert.deepEqual(applyFlagOp(cur, "remove", ["\\seen", "nothere"]), ["$Label"]);
  assert.deepEqual(applyFlagOp(cur, "set", ["\\Answered"]), ["\\Answered"]);
  assert.deepEqual(applyFlagOp(cur, "set", []), []);
  assert.throws(() => applyFlagOp(cur, "remove", ["\\Recent"]), invalid);
  assert.deepEqual(decodeFlags(encodeFlags(["\\Seen", "a"])), ["\\Seen", "a"]);
  assert.deepEqual(decodeFlags(encodeFlags([])), []);
});
