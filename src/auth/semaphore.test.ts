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

test("KeyedLimiter caps per key, synchronously", () => {
  const l = new KeyedLimiter(2);
  const a1 = l.tryAcquire("192.0.2.1");
  const a2 = l.tryAcquire("192.0.2.1");
  assert.ok(a1 && a2);
  assert.equal(l.tryAcquire("192.0.2.1"), null);
  assert.ok(l.tryAcquire("192.0.2.2"), "another key is independent");
  a1();
  a1(); // idempotent
  assert.equal(l.count("192.0.2.1"), 1);
  assert.ok(l.tryAcquire("192.0.2.1"));
});
