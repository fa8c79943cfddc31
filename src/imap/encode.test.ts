// Tests of IMAP response encoding, modified UTF-7 and date-time handling.

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  astring, compareDays, decodeMailboxUtf7, encodeMailboxUtf7, formatDateTime, imapString, isAtom,
  mailboxFromWire, mailboxToWire, nstring, parseDateTime, parseSearchDate, quoted,
} from "./encode.js";

test("strings: quoted when safe, literal for 8-bit, CR, LF, NUL and long values", () => {
  const table: Array<[string, string]> = [
    ["hello", '"hello"'],
    ["", '""'],
    ['say "hi" \\o/', '"say \\"hi\\" \\\\o/"'],
    ["café", "{5}\r\ncafé"],
    ["a\r\nb", "{4}\r\na\r\nb"],
    ["a\nb", "{3}\r\na\nb"],
    ["nul\x00", "{4}\r\nnul\x00"],
    ["x".repeat(1025), "{1025}\r\n" + "x".repeat(1025)],
    ["日本", "{6}\r\n日本"],
  ];
  for (const [input, want] of table) assert.equal(imapString(input), want, JSON.stringify(input));
  assert.equal(quoted("a"), '"a"');
  assert.equal(nstring(null), "NIL");
  assert.equal(nstring(undefined), "NIL");
  assert.equal(nstring("NIL"), '"NIL"');
});

test("astring: atom when possible, never the bare word NIL", () => {
  const table: Array<[string, string]> = [
    ["INBOX", "INBOX"],
    ["Sent]", "Sent]"],
    ["nil", '"nil"'],
    ["two words", '"two words"'],
    ["a(b", '"a(b"'],
    ["%", '"%"'],
    ["*", '"*"'],
    ["", '""'],
    ["Ünï", "{5}\r\nÜnï"],
  ];
  for (const [input, want] of table) assert.equal(astring(input), want, input);
  assert.equal(isAtom("FLAGS"), true);
  assert.equal(isAtom("a]"), false);
  assert.equal(isAtom(""), false);
});

test("modified UTF-7 round trips and matches RFC 3501 §5.1.3 examples", () => {
  const table: Array<[string, string]> = [
    ["INBOX", "INBOX"],
    ["~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"],
    ["&", "&-"],
    ["Tom & Jerry", "Tom &- Jerry"],
    ["Entwürfe", "Entw&APw-rfe"],
    ["Отправленные", "&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-"],
    ["😀", "&2D3eAA-"],
    ["a\tb", "a&AAk-b"],
  ];
  for (const [utf8, mutf7] of table) {
    assert.equal(encodeMailboxUtf7(utf8), mutf7, utf8);
    assert.equal(decodeMailboxUtf7(mutf7), utf8, mutf7);
  }
});

test("modified UTF-7 refuses non-canonical and hostile forms", () => {
  for (const bad of ["&", "&ZeVnLIqe", "&AGE-" /* 'a' shifted */, "&Jjo!-", "caf\u00e9", "&AA-" /* odd octet */, "&ZeV-", "&U,BTF2-"]) {
    assert.equal(decodeMailboxUtf7(bad), null, bad);
  }
});

test("mailbox names from and to the wire for rev1 and rev2 sessions", () => {
  assert.equal(mailboxFromWire("inbox", false), "INBOX");
  assert.equal(mailboxFromWire("Inbox/Sub", true), "INBOX/Sub");
  assert.equal(mailboxFromWire("Entw&APw-rfe", false), "Entwürfe");
  assert.equal(mailboxFromWire("Entw&APw-rfe", true), "Entw&APw-rfe");
  assert.equal(mailboxFromWire("&bad", false), "&bad");
  assert.equal(mailboxToWire("Entwürfe", false), "Entw&APw-rfe");
  assert.equal(mailboxToWire("Entwürfe", true), "{9}\r\nEntwürfe");
  assert.equal(mailboxToWire("Sent Items", false), '"Sent Items"');
});

test("date-time formatting (RFC 9051 §9 date-time)", () => {
  const d = new Date(Date.UTC(2024, 0, 5, 9, 20, 30));
  assert.equal(formatDateTime(d), " 5-Jan-2024 09:20:30 +0000");
  assert.equal(formatDateTime(d, 60), " 5-Jan-2024 10:20:30 +0100");
  assert.equal(formatDateTime(d, -330), " 5-Jan-2024 03:50:30 -0530");
  assert.equal(formatDateTime(new Date(Date.UTC(1999, 11, 31, 23, 59, 59))), "31-Dec-1999 23:59:59 +0000");
});

test("date-time parsing accepts both day forms and refuses invalid values", () => {
  assert.equal(parseDateTime(" 5-Jan-2024 10:20:30 +0100")?.toISOString(), "2024-01-05T09:20:30.000Z");
  assert.equal(parseDateTime("05-jan-2024 10:20:30 -0800")?.toISOString(), "2024-01-05T18:20:30.000Z");
  assert.equal(parseDateTime("5-Jan-2024 10:20:30 +0000")?.toISOString(), "2024-01-05T10:20:30.000Z");
  for (const bad of ["", "32-Jan-2024 10:20:30 +0000", "29-Feb-2023 00:00:00 +0000", "01-Foo-2024 00:00:00 +0000",
    "01-Jan-2024 24:00:00 +0000", "01-Jan-2024 10:20:30", "01-Jan-2024 10:20:30 +2400", "01-Jan-24 10:20:30 +0000"]) {
    assert.equal(parseDateTime(bad), null, bad);
  }
  assert.ok(parseDateTime("29-Feb-2024 00:00:00 +0000"));
});

test("search dates", () => {
  assert.deepEqual(parseSearchDate("1-Feb-1994"), { year: 1994, month: 2, day: 1 });
  assert.deepEqual(parseSearchDate("01-feb-1994"), { year: 1994, month: 2, day: 1 });
  assert.equal(parseSearchDate("30-Feb-1994"), null);
  assert.equal(parseSearchDate("1-Feb-94"), null);
  assert.ok(compareDays({ year: 2020, month: 1, day: 2 }, { year: 2020, month: 1, day: 3 }) < 0);
  assert.equal(compareDays({ year: 2020, month: 1, day: 2 }, { year: 2020, month: 1, day: 2 }), 0);
});

import { checkSettableFlags, normaliseFlags, renderFlagList, renderPermanentFlags } from "./flags.js";

test("flags: canonical system flags, settable checks, rendering", () => {
  assert.deepEqual(normaliseFlags(["\\seen", "$Work", "\\SEEN", "$work", "\\Draft"]), ["\\Seen", "$Work", "\\Draft"]);
  assert.equal(checkSettableFlags(["\\Seen", "\\deleted", "$Label1", "NonJunk"]), null);
  assert.match(checkSettableFlags(["\\Recent"])!, /Recent/);
  assert.match(checkSettableFlags(["\\Important"])!, /Unknown system flag/);
  assert.equal(renderFlagList([]), "()");
  assert.equal(renderFlagList(["\\Seen", "$Work"]), "(\\Seen $Work)");
  assert.equal(renderPermanentFlags(["$Work", "\\Seen"]), "(\\Answered \\Flagged \\Deleted \\Seen \\Draft $Work \\*)");
});

import { statusLine } from "./encode.js";

test("status lines cannot be split by client text", () => {
  assert.equal(statusLine("A1", "OK", null, "LOGIN completed"), "A1 OK LOGIN completed\r\n");
  assert.equal(statusLine(null, "NO", "TOOBIG", "Message too large"), "* NO [TOOBIG] Message too large\r\n");
  assert.equal(statusLine("A1", "BAD", null, "Unknown command FOO\r\n* OK [ALERT] pwned"), "A1 BAD Unknown command FOO  * OK [ALERT] pwned\r\n");
  assert.equal(statusLine("A1", "OK", null, ""), "A1 OK OK\r\n");
});
