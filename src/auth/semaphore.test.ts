import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { KeyedLimiter, Semaphore } from "./semaphore.js";

test("Semaphore runs at most `limit` tasks at once, in FIFO order", async () => {
  const sem = new Semaphore(2);
  let running = 0;
  let peak = 0;
  const started: number[] = [];
  await Promise.all(
    [0, 1, 2, 3, 4, 5].map((i) =>
      sem.run(async () => {
        started.push(i);
        running++;
        peak = Math.max(peak, running);
        await sleep(10);
        running--;
      }),
    ),
  );
  assert.equal(peak, 2);
  assert.deepEqual(started, [0, 1, 2, 3, 4, 5]);
  assert.equal(sem.active, 0);
  assert.equal(sem.waiting, 0);
});

test("Semaphore releases on a throwing task and ignores a double release", async () => {
  const sem = new Semaphore(1);
  await assert.rejects(sem.run(async () => { throw new Error("boom"); }), /boom/);
  assert.equal(sem.active, 0);
  const release = await sem.acquire();
  release();
  release();
  assert.equal(sem.active, 0);
  const again = await sem.acquire();
  assert.equal(sem.active, 1);
  again();
});

test("Semaphore: an aborted waiter leaves the queue and takes no slot", async () => {
  const sem = new Semaphore(1);
  const hold = await sem.acquire();
  const ac = new AbortController();
  const waiting = sem.acquire(ac.signal);
  assert.equal(sem.waiting, 1);
  ac.abort(new Error("gone"));
  await assert.rejects(waiting, /gone/);
  assert.equal(sem.waiting, 0);
  hold();
  assert.equal(sem.active, 0);
  await assert.rejects(sem.acquire(ac.signal), /gone/); // already aborted
});

test("Semaphore refuses a non-positive limit", () => {
  assert.throws(() => new Semaphore(0), RangeError);
});

test("KeyedLimiter: at most `limit` per key in flight, the rest wait in order, refused past maxWaiting", async () => {
  const l = new KeyedLimiter(2, 1);
  const a1 = await l.acquire("192.0.2.1");
  const a2 = await l.acquire("192.0.2.1");
  assert.ok(a1 && a2);
  const got: Array<(() => void) | null> = [];
  const waiting = l.acquire("192.0.2.1").then((r) => got.push(r));
  assert.equal(await l.acquire("192.0.2.1"), null, "the waiting line (1) is full");
  assert.ok(await l.acquire("192.0.2.2"), "another key is independent");
  await new Promise((r) => setImmediate(r));
  assert.equal(got.length, 0, "still waiting while both slots are taken");
  a1!();
  a1!(); // idempotent
  await waiting;
  const third = got[0];
  assert.ok(third, "the waiter got the freed slot");
  assert.equal(l.count("192.0.2.1"), 2);
  a2!();
  third();
  assert.equal(l.count("192.0.2.1"), 0);
});

test("KeyedLimiter: an aborted waiter leaves the line and idle keys are forgotten", async () => {
  const l = new KeyedLimiter(1);
  const a = await l.acquire("k");
  const ac = new AbortController();
  const w = l.acquire("k", ac.signal);
  ac.abort(new Error("hung up"));
  await assert.rejects(w, /hung up/);
  a!();
  assert.equal(l.size, 0);
});
