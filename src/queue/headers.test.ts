import { test } from "node:test";
import assert from "node:assert/strict";
import { fromDomain } from "./headers.js";

test("the From: domain, for the DKIM signing domain", () => {
  assert.equal(fromDomain("Subject: x\r\nFrom: Alice <alice@Example.ORG>\r\n\r\nFrom: body@evil.test\r\n"), "example.org");
  assert.equal(fromDomain("From: alice@example.org (Alice)\r\n\r\n"), "example.org");
  assert.equal(fromDomain("From: \"A\"\r\n <alice@folded.example>\r\n\r\n"), "folded.example");
  assert.equal(fromDomain("From: a@x.test\r\nFrom: b@y.test\r\n\r\n"), null, "two From: fields");
  assert.equal(fromDomain("Subject: none\r\n\r\n"), null);
  assert.equal(fromDomain("From: undisclosed\r\n\r\n"), null);
});
