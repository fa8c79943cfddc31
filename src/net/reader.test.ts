import { test } from "node:test";
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { Reader } from "./reader.js";
import { InputError } from "./types.js";

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function setup(o: Partial<ConstructorParameters<typeof Reader>[0]> = {}) {
  const s = new PassThrough();
  const errors: InputError[] = [];
  const r = new Reader({ idleTimeoutMs: 0, lineTimeoutMs: 0, onInputError: (e) => errors.push(e), ...o });
  r.attach(s);
  return { s, r, errors };
}

async function rejectsWith(p: Promise<unknown>, kind: InputError["kind"]): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof InputError && e.kind === kind);
}

test("lines and literals in sequence over a stream", async () => {
  const { s, r } = setup();
  s.write("A1 APPEND INBOX {11}\r\nHello");
  s.write(" world\r\nA2 NOOP\r\n");
  const l = await r.readLine(100);
  assert.equal(l?.bytes.toString(), "A1 APPEND INBOX {11}");
  assert.equal((await r.readBytes(11)).toString(), "Hello world");
  assert.equal((await r.readLine(100))?.bytes.toString(), "");
  assert.equal((await r.readLine(100))?.bytes.toString(), "A2 NOOP");
  s.end();
  assert.equal(await r.readLine(100), null, "clean EOF between lines");
});

test("EOF in the middle of a line or a literal rejects with eof", async () => {
  const a = setup();
  a.s.end("QU");
  await rejectsWith(a.r.readLine(10), "eof");
  const b = setup();
  b.s.end("abc");
  await rejectsWith(b.r.readBytes(10), "eof");
  const c = setup();
  const got: Buffer[] = [];
  c.s.end("abcdef");
  await rejectsWith(c.r.readStream(10, (x) => void got.push(x)), "eof");
  assert.equal(Buffer.concat(got).toString(), "abcdef", "what did arrive was passed on");
});

test("readStream hands over chunks as they come and waits for an async consumer", async () => {
  const { s, r } = setup({ highWater: 1024 });
  const got: string[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const done = r.readStream(3000, async (c) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    got.push(c.toString());
    await sleep(5);
    inFlight--;
  });
  for (let i = 0; i < 3; i++) s.write("x".repeat(1000));
  s.write("NEXT\r\n");
  await done;
  assert.equal(got.join(""), "x".repeat(3000));
  assert.equal(maxInFlight, 1, "one chunk at a time");
  assert.equal((await r.readLine(10))?.bytes.toString(), "NEXT");
});

test("input backpressure: the stream is paused when unread input passes the high-water mark", async () => {
  const { s, r } = setup({ highWater: 1000 });
  s.write("y".repeat(600));
  await tick();
  assert.equal(s.isPaused(), false);
  s.write("y".repeat(600));
  await tick();
  assert.equal(s.isPaused(), true, "paused with 1200 unread octets");
  assert.equal(r.buffered, 1200);
  // A read that needs more than is buffered resumes it.
  const p = r.readBytes(1500);
  await tick();
  assert.equal(s.isPaused(), false);
  s.write("y".repeat(300));
  assert.equal((await p).length, 1500);
});

test("a read waiting for a line longer than the high-water mark keeps reading (its own limit bounds it)", async () => {
  const { s, r } = setup({ highWater: 100 });
  const p = r.readLine(10_000);
  for (let i = 0; i < 50; i++) s.write("z".repeat(100));
  s.write("\r\n");
  assert.equal((await p)?.bytes.length, 5000);
});

test("an over-long line rejects at once with too-long; the tail is dropped, not buffered", async () => {
  const { s, r, errors } = setup();
  const p = r.readLine(253);
  s.write("PASS " + "a".repeat(300));
  await rejectsWith(p, "too-long");
  assert.equal(errors[0]?.kind, "too-long");
  s.write("a".repeat(5000));
  await tick();
  assert.equal(r.buffered, 0);
  s.write("\r\nQUIT\r\n");
  assert.equal((await r.readLine(253))?.bytes.toString(), "QUIT");
});

test("idle timeout: no byte while waiting", async () => {
  const { r, errors } = setup({ idleTimeoutMs: 150 });
  const started = Date.now();
  await rejectsWith(r.readLine(10), "timeout");
  assert.ok(Date.now() - started >= 140);
  assert.match(errors[0]!.message, /idle/);
});

test("idle timeout counts from the last byte; the line deadline from the line's first byte", async () => {
  const { s, r } = setup({ idleTimeoutMs: 300, lineTimeoutMs: 500 });
  const p = r.readLine(100);
  const started = Date.now();
  const drip = setInterval(() => s.write("e"), 100); // never idle, never done
  await rejectsWith(p, "timeout");
  clearInterval(drip);
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 450 && elapsed < 900, `line deadline after ${elapsed} ms`);
});

test("a dripped literal hits the command deadline plus its size at the minimum rate", async () => {
  const { s, r } = setup({ idleTimeoutMs: 300, lineTimeoutMs: 500 });
  const started = Date.now();
  const p = r.readBytes(200); // 200 octets at 4096/s add ~49 ms to the 500 ms deadline
  const drip = setInterval(() => s.write("x"), 100); // never idle, never done
  await rejectsWith(p, "timeout");
  clearInterval(drip);
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 500 && elapsed < 1000, `literal deadline after ${elapsed} ms`);
});

test("a dripped readStream hits the same deadline; a literal sent promptly is read in full", async () => {
  const { s, r } = setup({ idleTimeoutMs: 300, lineTimeoutMs: 400 });
  const got: Buffer[] = [];
  const p = r.readStream(100, (c) => void got.push(c));
  const drip = setInterval(() => s.write("y"), 100);
  await rejectsWith(p, "timeout");
  clearInterval(drip);
  const ok = setup({ idleTimeoutMs: 300, lineTimeoutMs: 400 });
  const q = ok.r.readBytes(10_000);
  ok.s.write(Buffer.alloc(10_000, 0x61));
  assert.equal((await q).length, 10_000);
});

test("the line deadline does not count time the server spent before reading", async () => {
  const { s, r } = setup({ lineTimeoutMs: 200 });
  s.write("partial");
  await sleep(300); // the server was busy; the client's partial line waited in the buffer
  const p = r.readLine(100);
  await sleep(100);
  s.write(" line\r\n");
  assert.equal((await p)?.bytes.toString(), "partial line");
});

test("setTimeouts applies to a read already waiting", async () => {
  const { r } = setup({ idleTimeoutMs: 60_000 });
  const p = r.readLine(10);
  r.setTimeouts(100);
  const started = Date.now();
  await rejectsWith(p, "timeout");
  assert.ok(Date.now() - started < 1000);
});

test("detach drops buffered input and leaves later bytes in the stream; attach reads from the new one", async () => {
  const { s, r } = setup();
  s.write("STARTTLS\r\nECHO injected\r\n");
  assert.equal((await r.readLine(100))?.bytes.toString(), "STARTTLS");
  assert.equal(r.detach(), "ECHO injected\r\n".length);
  s.write("not for the reader");
  await tick();
  assert.equal(s.read()?.toString(), "not for the reader", "left in the stream for its next owner");
  const t = new PassThrough();
  r.attach(t);
  t.write("ECHO after\r\n");
  assert.equal((await r.readLine(100))?.bytes.toString(), "ECHO after");
});

test("close rejects the pending read and every later one with closed; an abrupt close is closed, not EOF", async () => {
  const a = setup();
  const p = a.r.readLine(10);
  a.r.close();
  await rejectsWith(p, "closed");
  await rejectsWith(a.r.readLine(10), "closed");
  const b = setup();
  const q = b.r.readLine(10);
  b.s.destroy();
  await rejectsWith(q, "closed");
});

test("one read at a time", async () => {
  const { s, r } = setup();
  const p = r.readLine(10);
  await assert.rejects(r.readLine(10), /already pending/);
  s.write("ok\r\n");
  assert.equal((await p)?.bytes.toString(), "ok");
});

test("interruptIdleLine only interrupts a read waiting between lines after a quiet moment", async () => {
  const { s, r } = setup();
  const p = r.readLine(100);
  assert.equal(r.interruptIdleLine("bye", 50), false, "not quiet long enough yet");
  await sleep(80);
  assert.equal(r.interruptIdleLine("bye", 50), true);
  await rejectsWith(p, "closed");
  const q = r.readLine(100);
  s.write("half");
  await sleep(80);
  assert.equal(r.interruptIdleLine("bye", 50), false, "a line has begun");
  s.write(" done\r\n");
  assert.equal((await q)?.bytes.toString(), "half done");
});

test("throughput: 200 000 pipelined lines", async () => {
  const { s, r } = setup();
  const n = 200_000;
  const block = Array.from({ length: 1000 }, (_, i) => `A${i} NOOP\r\n`).join("");
  const started = Date.now();
  void (async () => {
    for (let i = 0; i < n / 1000; i++) {
      if (!s.write(block)) await new Promise((res) => s.once("drain", res));
    }
  })();
  for (let i = 0; i < n; i++) await r.readLine(100);
  const ms = Date.now() - started;
  assert.ok(ms < 5000, `${n} lines took ${ms} ms`);
});
