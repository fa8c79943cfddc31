import { test } from "node:test";
import assert from "node:assert/strict";
import { saslprep, SaslprepError } from "./saslprep.js";

test("RFC 4013 §3 examples", () => {
  assert.equal(saslprep("I\u00ADX"), "IX"); // SOFT HYPHEN mapped to nothing
  assert.equal(saslprep("user"), "user"); // no transformation
  assert.equal(saslprep("USER"), "USER"); // case preserved, will not match #2
  assert.equal(saslprep("\u00AA"), "a"); // output is NFKC, input in ISO 8859-1
  assert.equal(saslprep("\u2168"), "IX"); // output is NFKC, will match #1
  assert.throws(() => saslprep("\u0007"), SaslprepError); // Error - prohibited character
  assert.throws(() => saslprep("\u0627\u0031"), SaslprepError); // Error - bidirectional check
});

test("non-ASCII spaces map to SPACE, zero-width characters to nothing", () => {
  assert.equal(saslprep("a\u00A0b\u3000c\u2003d"), "a b c d");
  assert.equal(saslprep("pass\u200Bword\uFEFF"), "password");
  assert.equal(saslprep("x\uFE0Fy"), "xy"); // variation selector
});

test("NFKC composes and folds compatibility characters", () => {
  assert.equal(saslprep("e\u0301"), "\u00E9");
  assert.equal(saslprep("\uFB01"), "fi");
  assert.equal(saslprep("\uFF21\uFF22"), "AB"); // full-width letters
});

test("prohibited characters are refused, with the table named", () => {
  const cases: Array<[string, RegExp]> = [
    ["a\u0000b", /C\.2\.1/],
    ["a\u007Fb", /C\.2\.1/],
    ["a\u0085b", /C\.2\.2/],
    ["a\u2028b", /C\.2\.2/],
    ["a\uE000b", /C\.3/],
    ["a\uFDD0b", /C\.4/],
    ["a\uD800b", /C\.5/], // lone surrogate
    ["a\uFFFDb", /C\.6/],
    ["a\u2FF0b", /C\.7/],
    ["a\u202Eb", /C\.8/], // RIGHT-TO-LEFT OVERRIDE
    ["a\u{E0041}b", /C\.9/],
  ];
  for (const [input, table] of cases) {
    assert.throws(() => saslprep(input), (err: unknown) => err instanceof SaslprepError && table.test(err.message), JSON.stringify(input));
  }
});

test("bidi rule: right-to-left strings must not mix with left-to-right letters", () => {
  assert.equal(saslprep("\u05D0\u05D1\u05D2"), "\u05D0\u05D1\u05D2"); // Hebrew only
  assert.equal(saslprep("\u0627\u0031\u0628"), "\u0627\u0031\u0628"); // RandAL, digit, RandAL
  assert.throws(() => saslprep("\u05D0a\u05D1"), SaslprepError); // mixed
  assert.throws(() => saslprep("1\u05D0"), SaslprepError); // does not start with RandAL
});

test("unassigned code points: allowed in queries, refused in stored strings", () => {
  const unassigned = "\u{E0080}"; // just past the tags block, unassigned
  assert.equal(saslprep(`x${unassigned}`), `x${unassigned}`);
  assert.throws(() => saslprep(`x${unassigned}`, { storedString: true }), /unassigned/);
});

test("ordinary passwords with punctuation and non-Latin scripts pass unchanged", () => {
  for (const p of ["correct horse battery staple", "p@ss,w=rd;\"'", "пароль-надёжный", "密码很长很长的", "Ünïcödé Pässwörd"]) {
    assert.equal(saslprep(p), p.normalize("NFKC"));
  }
});
