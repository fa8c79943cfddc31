import { test } from "node:test";
import assert from "node:assert/strict";
import { skipComment } from "./rfc5322.js";

test("skipComment: nested comments and quoted-pairs; -1 when unterminated", () => {
  const cases: Array<[string, number, number]> = [
    ["(a) x", 0, 3],
    ["(a (b) c)x", 0, 9],
    ["(a \\) b)x", 0, 8],
    ["x (y)", 2, 5],
    ["(never closed", 0, -1],
    ["(a (b)", 0, -1],
    ["(a\\", 0, -1],
  ];
  for (const [value, start, want] of cases) assert.equal(skipComment(value, start), want, value);
});
