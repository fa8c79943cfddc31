import { test } from "node:test";
import assert from "node:assert/strict";
import { backoffDelay, nextAttempt, delayNoticeDue } from "./backoff.js";

const MIN = 60_000;
const p = { initialMs: 5 * MIN, maxMs: 240 * MIN, lifetimeMs: 5 * 24 * 60 * MIN };

test("backoff doubles from retry_initial and is capped at retry_max", () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8, 100].map((n) => backoffDelay(n, p) / MIN), [5, 10, 20, 40, 80, 160, 240, 240, 240]);
  assert.equal(backoffDelay(0, p), 5 * MIN, "attempt counts below 1 act as the first");
});

test("next attempt: never past the end of the lifetime; expired after it", () => {
  const created = new Date("2026-01-01T00:00:00Z");
  const now = new Date(created.getTime() + 10 * MIN);
  assert.deepEqual(nextAttempt(created, 1, now, p), { kind: "retry", at: new Date(now.getTime() + 5 * MIN) });
  const nearEnd = new Date(created.getTime() + p.lifetimeMs - MIN);
  assert.deepEqual(nextAttempt(created, 30, nearEnd, p), { kind: "retry", at: new Date(created.getTime() + p.lifetimeMs) });
  assert.deepEqual(nextAttempt(created, 31, new Date(created.getTime() + p.lifetimeMs), p), { kind: "expired" });
});

test("delay notice: once, after delay_notice_after", () => {
  const created = new Date(0);
  assert.equal(delayNoticeDue(created, new Date(4 * 60 * MIN - 1), 4 * 60 * MIN, false), false);
  assert.equal(delayNoticeDue(created, new Date(4 * 60 * MIN), 4 * 60 * MIN, false), true);
  assert.equal(delayNoticeDue(created, new Date(9 * 60 * MIN), 4 * 60 * MIN, true), false);
});
