// HeaderCache / HeaderRecord (headers.ts): the searchable header of a message, as the evaluator
// sees it, and the cache's bound.
import { test } from "node:test";
import assert from "node:assert/strict";
import { HeaderCache } from "./headers.js";
import { parseMessage } from "../mime.js";

test("header records: values as sent and decoded, full header needed for omitted fields, bounded", () => {
  const raw = Buffer.from(
    "Received: from a by b\r\nFrom: =?UTF-8?B?SsO8cmdlbg==?= <j@example.org>\r\nSubject: plain\r\n folded\r\nDate: 3 Feb 2025 10:00:00 +0100\r\n\r\nbody\r\n",
  );
  const parsed = parseMessage(raw);
  const cache = new HeaderCache(2000);
  const r = cache.put(1, parsed);
  assert.deepEqual(r.values("from"), ["=?UTF-8?B?SsO8cmdlbg==?= <j@example.org>", "Jürgen <j@example.org>"]);
  assert.deepEqual(r.values("subject"), ["plain folded"]);
  assert.deepEqual(r.values("cc"), []);
  assert.deepEqual(r.sentDay, { year: 2025, month: 2, day: 3 });
  assert.equal(r.values("received"), null, "left out of the stored structure: read the header");
  cache.setFull(1, r, [{ name: "Received", value: "from a by b" }]);
  assert.deepEqual(r.values("received"), ["from a by b"]);
  for (let id = 2; id < 100; id++) cache.put(id, parsed);
  assert.equal(cache.get(1), undefined, "the oldest records go first");
  assert.ok(cache.get(99));
});
