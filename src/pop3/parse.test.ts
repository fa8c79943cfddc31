// Table-driven tests for the pure POP3 command parser, with hostile input.

import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeBase64, looksLikeHttp, parseCommand, parseLineCount, parseMessageNumber } from "./parse.js";

const ok = (line: string | Buffer) => {
  const r = parseCommand(typeof line === "string" ? Buffer.from(line, "latin1") : line);
  assert.ok(r.ok, `expected ${JSON.stringify(line.toString())} to parse`);
  return r.command;
};
const err = (line: string | Buffer) => {
  const r = parseCommand(typeof line === "string" ? Buffer.from(line, "latin1") : line);
  assert.ok(!r.ok, `expected ${JSON.stringify(line.toString())} to be refused`);
  assert.match(r.response, /^-ERR /);
  return r.response;
};

test("keywords are case-insensitive and upper-cased", () => {
  for (const [line, name, args] of [
    ["STAT", "STAT", []],
    ["stat", "STAT", []],
    ["LiSt 3", "LIST", ["3"]],
    ["TOP 1 10", "TOP", ["1", "10"]],
    ["top  1   10 ", "TOP", ["1", "10"]],
    ["USER alice@example.test", "USER", ["alice@example.test"]],
    ["CAPA", "CAPA", []],
    ["UIDL", "UIDL", []],
  ] as const) {
    const c = ok(line);
    assert.equal(c.name, name);
    assert.deepEqual(c.args, args);
  }
});

test("PASS keeps spaces: rest is everything after the keyword and one space (RFC 1939 §7)", () => {
  const c = ok("PASS  my secret pass ");
  assert.equal(c.name, "PASS");
  assert.equal(c.rest, " my secret pass ");
  assert.deepEqual(c.args, ["my", "secret", "pass"]);
  assert.equal(ok("PASS x").rest, "x");
  assert.equal(ok("QUIT").rest, "");
});

test("UTF-8 arguments are accepted, invalid UTF-8 is refused", () => {
  assert.equal(ok(Buffer.from("PASS pässwörd", "utf8")).rest, "pässwörd");
  assert.match(err(Buffer.from([0x50, 0x41, 0x53, 0x53, 0x20, 0xff, 0xfe])), /UTF-8/);
});

test("hostile and malformed lines are refused with -ERR", () => {
  assert.match(err(""), /empty/);
  assert.match(err("RE\0TR 1"), /invalid characters/);
  assert.match(err("RETR 1\r"), /invalid characters/);
  assert.match(err("RETR\t1"), /invalid characters/);
  assert.match(err("\x7f"), /invalid characters/);
  assert.match(err(" STAT"), /unknown command/);
  assert.match(err("ST"), /unknown command/);
  assert.match(err("STATUS"), /unknown command/);
  assert.match(err("R3TR 1"), /unknown command/);
});

test("message numbers: decimal, no sign, at least 1", () => {
  assert.equal(parseMessageNumber("1"), 1);
  assert.equal(parseMessageNumber("0042"), 42);
  assert.equal(parseMessageNumber("4294967295"), 4294967295);
  for (const bad of ["0", "-1", "+1", "1.0", "0x10", "", "1e3", "12345678901", " 1"]) assert.equal(parseMessageNumber(bad), null, bad);
});

test("line counts: zero allowed, huge values capped", () => {
  assert.equal(parseLineCount("0"), 0);
  assert.equal(parseLineCount("10"), 10);
  assert.equal(parseLineCount("99999999999999999999"), Number.MAX_SAFE_INTEGER);
  for (const bad of ["-1", "x", "", "1 "]) assert.equal(parseLineCount(bad), null, bad);
});

test("strict base64", () => {
  assert.deepEqual(decodeBase64("AGFsaWNlAHB3"), Buffer.from("\0alice\0pw"));
  assert.deepEqual(decodeBase64(""), Buffer.alloc(0));
  for (const bad of ["abc", "ab!d", "a===", "YQ==YQ==", "@@@@"]) assert.equal(decodeBase64(bad), null, bad);
});

test("HTTP request lines are recognised, POP3 commands are not", () => {
  for (const l of ["GET / HTTP/1.1", "POST /login HTTP/1.0", "get /x HTTP/2", "PUT /a HTTP/1.1"]) assert.ok(looksLikeHttp(ok(l)), l);
  for (const l of ["GET", "LIST 1", "USER HTTP/1.1", "POST", "HEAD /"]) assert.ok(!looksLikeHttp(ok(l)), l);
});
