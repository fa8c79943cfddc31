import { test } from "node:test";
import assert from "node:assert/strict";
import { dotStuff, initialStuffState, terminator } from "./dotstuff.js";

function stuffAll(chunks: string[]): string {
  const st = initialStuffState();
  return chunks.map((c) => dotStuff(Buffer.from(c), st).toString()).join("") + terminator(st).toString();
}

test("leading dots are doubled, also across chunk boundaries (RFC 5321 §4.5.2)", () => {
  assert.equal(stuffAll([".a\r\nb\r\n..c\r\n"]), "..a\r\nb\r\n...c\r\n.\r\n");
  assert.equal(stuffAll(["a\r\n", ".b\r\n"]), "a\r\n..b\r\n.\r\n");
  assert.equal(stuffAll(["a\r", "\n", ".", "\r\n"]), "a\r\n..\r\n.\r\n");
  assert.equal(stuffAll(["a.b\r\n"]), "a.b\r\n.\r\n", "only at the start of a line");
});

test("the terminator adds CRLF when the body does not end with one", () => {
  assert.equal(stuffAll(["no newline"]), "no newline\r\n.\r\n");
  assert.equal(stuffAll([]), ".\r\n");
  assert.equal(stuffAll(["x\r\n."]), "x\r\n..\r\n.\r\n");
});
