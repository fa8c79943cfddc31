import { test } from "node:test";
import assert from "node:assert/strict";
import { GreetPassCache } from "./greetcache.js";

test("greet pass cache: remembered for the TTL, forgotten after it or after a failure", () => {
  let now = 1_000_000;
  const c = new GreetPassCache({ ttlMs: 1000, max: 10, now: () => now });
  assert.equal(c.has("192.0.2.1"), false);
  c.pass("192.0.2.1");
  assert.equal(c.has("192.0.2.1"), true);
  assert.equal(c.has("192.0.2.2"), false);
  now += 1000;
  assert.equal(c.has("192.0.2.1"), true);
  now += 1;
  assert.equal(c.has("192.0.2.1"), false, "expired");
  c.pass("192.0.2.1");
  c.fail("192.0.2.1");
  assert.equal(c.has("192.0.2.1"), false, "talked early: no longer a pass");
});

test("greet pass cache: bounded, the oldest pass is dropped first", () => {
  let now = 0;
  const c = new GreetPassCache({ ttlMs: 1e9, max: 3, now: () => now++ });
  for (const a of ["a", "b", "c"]) c.pass(a);
  c.pass("a"); // renewed: now the youngest
  c.pass("d");
  assert.equal(c.size, 3);
  assert.equal(c.has("b"), false, "the oldest went");
  assert.equal(c.has("a"), true);
  assert.equal(c.has("c"), true);
  assert.equal(c.has("d"), true);
});
