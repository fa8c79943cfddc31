import { test } from "node:test";
import assert from "node:assert/strict";
import { LineSplitter, ReplyParser, ReplyFormatError, parseEhlo, parseReplyLine, replyText, MAX_REPLY_LINE, MAX_REPLY_LINES } from "./reply.js";

test("reply lines: code, continuation, text (RFC 5321 §4.2)", () => {
  assert.deepEqual(parseReplyLine("250-mx.example.org"), { code: 250, last: false, text: "mx.example.org" });
  assert.deepEqual(parseReplyLine("250 OK"), { code: 250, last: true, text: "OK" });
  assert.deepEqual(parseReplyLine("354"), { code: 354, last: true, text: "" });
  for (const bad of ["", "25", "2500 x", "abc", "650 six", "199 low", "250_x", " 250 x"]) {
    assert.throws(() => parseReplyLine(bad), ReplyFormatError, bad);
  }
});

test("multi-line replies are assembled; enhanced status codes read from the first line", () => {
  const p = new ReplyParser();
  assert.equal(p.push("250-mx.example.org Hello"), null);
  assert.equal(p.push("250-PIPELINING"), null);
  const r = p.push("250 SIZE 1000");
  assert.deepEqual(r, { code: 250, lines: ["mx.example.org Hello", "PIPELINING", "SIZE 1000"], enhanced: null });
  assert.deepEqual(p.push("550 5.1.1 <x@y>: no such user"), { code: 550, lines: ["5.1.1 <x@y>: no such user"], enhanced: "5.1.1" });
  assert.equal(p.push("450 5.1.1 class mismatch")!.enhanced, null, "RFC 3463: the class must agree with the reply");
  assert.equal(replyText({ code: 550, lines: ["5.1.1 a", "b\r\nc"], enhanced: "5.1.1" }), "550 5.1.1 a b  c");
});

test("a code change inside a multi-line reply is an error", () => {
  const p = new ReplyParser();
  p.push("250-a");
  assert.throws(() => p.push("550 b"), /code changed/);
});

test("hostile servers: over-long lines and endless multi-line replies are refused", () => {
  const p = new ReplyParser();
  assert.throws(() => p.push("250 " + "x".repeat(MAX_REPLY_LINE)), /too long/);
  const q = new ReplyParser();
  for (let i = 0; i < MAX_REPLY_LINES; i++) q.push("250-x");
  assert.throws(() => q.push("250-x"), /multi-line reply too long/);
  const s = new LineSplitter();
  assert.throws(() => s.push(Buffer.alloc(MAX_REPLY_LINE + 10, 0x61)), /too long/, "no newline at all: refused before growing further");
});

test("line splitter: CRLF and bare LF, chunk boundaries, clear()", () => {
  const s = new LineSplitter();
  assert.deepEqual(s.push(Buffer.from("220 hi\r\n250-a")), ["220 hi"]);
  assert.deepEqual(s.push(Buffer.from("\r")), []);
  assert.deepEqual(s.push(Buffer.from("\n250 b\n")), ["250-a", "250 b"]);
  s.push(Buffer.from("partial"));
  assert.equal(s.buffered, 7);
  s.clear();
  assert.deepEqual(s.push(Buffer.from("250 c\r\n")), ["250 c"]);
});

test("EHLO keywords", () => {
  const ext = parseEhlo({ code: 250, enhanced: null, lines: ["mx hello", "PIPELINING", "SIZE 10240000", "8bitmime", "AUTH=LOGIN PLAIN", "STARTTLS", "-bad"] });
  assert.deepEqual([...ext.entries()], [["PIPELINING", ""], ["SIZE", "10240000"], ["8BITMIME", ""], ["AUTH", "LOGIN PLAIN"], ["STARTTLS", ""]]);
});
