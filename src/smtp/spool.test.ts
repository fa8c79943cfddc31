// The spool: size limit enforced while streaming (the file never grows past it), bare CR/LF
// detection for DATA lines and BDAT chunks (across chunk boundaries), header capture, modes,
// in memory or in a file, and the memory budget.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, stat, readFile, readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Spool, spoolDir, HEADER_CAP, MEMORY_MAX, MEMORY_BUDGET, spoolMemoryInUse } from "./spool.js";

const roots: string[] = [];
after(async () => {
  await Promise.all(roots.map((r) => rm(r, { recursive: true, force: true })));
});

async function dir(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), "portcullis-spool-"));
  roots.push(root);
  return spoolDir(root);
}

test("small message: kept in memory, no file; queue copy drops Return-Path; memory released", async () => {
  const d = await dir();
  const before = spoolMemoryInUse();
  const s = await Spool.create(d, 1000, "Return-Path: <a@b>\r\n", "Received: x\r\n");
  await s.appendLine(Buffer.from("Subject: hi"), true);
  await s.appendLine(Buffer.from(""), true);
  await s.appendLine(Buffer.from("body"), true);
  const content = await s.finish();
  assert.equal(s.path, null);
  assert.deepEqual(await readdir(d), [], "no spool file for a small message");
  assert.ok(spoolMemoryInUse() > before);
  const text = "Return-Path: <a@b>\r\nReceived: x\r\nSubject: hi\r\n\r\nbody\r\n";
  assert.equal(content.kind, "memory");
  assert.equal(content.kind === "memory" && content.data.toString(), text);
  assert.equal(s.size, Buffer.byteLength("Subject: hi\r\n\r\nbody\r\n"));
  assert.equal(s.header()?.toString(), "Subject: hi\r\n\r\n");
  assert.equal(s.bareLineEnding, false);
  const q = await s.copyForQueue(d);
  assert.ok(Buffer.isBuffer(q));
  assert.equal(q.toString(), "Received: x\r\nSubject: hi\r\n\r\nbody\r\n");
  assert.equal((await s.slice(0, s.prefixLength)).toString(), "Return-Path: <a@b>\r\nReceived: x\r\n");
  await s.discard();
  await s.discard();
  assert.equal(spoolMemoryInUse(), before);
});

test("a line buffer reused by the caller does not change what was kept", async () => {
  const d = await dir();
  const s = await Spool.create(d, 1000, "", "");
  const line = Buffer.from("aaaa");
  await s.appendLine(line, true);
  line.write("bbbb");
  await s.appendLine(line, true);
  const c = await s.finish();
  assert.equal(c.kind === "memory" && c.data.toString(), "aaaa\r\nbbbb\r\n");
  await s.discard();
});

test("large message: moved to a spool file (0600 in a 0700 directory) past MEMORY_MAX, content intact", async () => {
  const d = await dir();
  assert.equal((await stat(d)).mode & 0o777, 0o700);
  const before = spoolMemoryInUse();
  const s = await Spool.create(d, 10_000_000, "Return-Path: <a@b>\r\n", "Received: x\r\n");
  await s.appendLine(Buffer.from("Subject: big"), true);
  await s.appendLine(Buffer.from(""), true);
  const line = Buffer.from("y".repeat(998));
  const lines = Math.ceil((MEMORY_MAX * 1.5) / 1000);
  for (let i = 0; i < lines; i++) await s.appendLine(line, true);
  assert.notEqual(s.path, null, "spilled to a file");
  assert.equal(spoolMemoryInUse(), before, "the memory is given back when it spills");
  const content = await s.finish();
  assert.equal(content.kind, "file");
  const path = s.path!;
  assert.equal((await stat(path)).mode & 0o777, 0o600);
  const expected = "Return-Path: <a@b>\r\nReceived: x\r\nSubject: big\r\n\r\n" + ("y".repeat(998) + "\r\n").repeat(lines);
  assert.equal((await readFile(path)).toString(), expected);
  assert.equal(content.kind === "file" && content.size, Buffer.byteLength(expected));
  const q = await s.copyForQueue(d);
  assert.ok(!Buffer.isBuffer(q));
  assert.equal((await readFile(q.path)).toString(), expected.slice("Return-Path: <a@b>\r\n".length));
  assert.equal(q.size, (await stat(q.path)).size);
  const head = await s.slice(0, s.prefixLength);
  assert.equal(head.toString(), "Return-Path: <a@b>\r\nReceived: x\r\n");
  let streamed = "";
  for await (const c of s.readFrom(s.prefixLength)) streamed += c.toString();
  assert.equal(streamed, expected.slice(s.prefixLength));
  await rm(q.path);
  await s.discard();
  await s.discard();
  await assert.rejects(stat(path));
});

test("size limit: nothing is kept past it, however much arrives", async () => {
  const d = await dir();
  const before = spoolMemoryInUse();
  const s = await Spool.create(d, 10_000, "", "");
  const line = Buffer.from("x".repeat(998));
  for (let i = 0; i < 1000; i++) await s.appendLine(line, true);
  assert.equal(s.overLimit, true);
  assert.equal(s.size, 1000 * 1000);
  assert.equal(spoolMemoryInUse(), before, "nothing held once over the limit");
  await s.finish();
  assert.equal(s.path, null, "never written to disk");
  const big = await Spool.create(d, MEMORY_MAX * 2, "", "");
  for (let i = 0; i < (MEMORY_MAX * 3) / 1000; i++) await big.appendLine(line, true);
  assert.equal(big.overLimit, true);
  await big.finish();
  assert.ok((await stat(big.path!)).size <= MEMORY_MAX * 2, "the file stays under the limit");
  await s.discard();
  await big.discard();
});

test("the process-wide memory budget: past it, new spools go to files", async () => {
  const d = await dir();
  const spools: Spool[] = [];
  const line = Buffer.from("z".repeat(998));
  // Fill the budget with in-memory spools of MEMORY_MAX each.
  while (spoolMemoryInUse() + MEMORY_MAX <= MEMORY_BUDGET) {
    const s = await Spool.create(d, 10_000_000, "", "");
    for (let i = 0; i < MEMORY_MAX / 1000 - 1; i++) await s.appendLine(line, true);
    assert.equal(s.path, null);
    spools.push(s);
  }
  assert.ok(spoolMemoryInUse() <= MEMORY_BUDGET);
  const next = await Spool.create(d, 10_000_000, "", "");
  for (let i = 0; i < 100; i++) await next.appendLine(line, true);
  assert.notEqual(next.path, null, "over the budget: written to a file");
  const c = await next.finish();
  assert.equal(c.kind === "file" && c.size, 100 * 1000);
  await next.discard();
  await Promise.all(spools.map((s) => s.discard()));
  assert.equal(spoolMemoryInUse(), 0);
});

test("many short lines flush correctly (no iovec limit)", async () => {
  const d = await dir();
  const s = await Spool.create(d, 10_000_000, "", "");
  for (let i = 0; i < 200_000; i++) await s.appendLine(Buffer.from(i % 2 ? "a" : ""), true);
  const c = await s.finish();
  assert.equal(c.kind, "file");
  const size = c.kind === "file" ? c.size : -1;
  assert.equal(size, 100_000 * 2 + 100_000 * 3);
  assert.equal((await stat(s.path!)).size, size);
  await s.discard();
});

test("bare LF / bare CR in DATA lines", async () => {
  const d = await dir();
  for (const [payload, crlf, bare] of [
    ["ok", true, false],
    ["lf", false, true],
    ["cr\rinside", true, true],
    ["trailing cr\r", true, true],
  ] as const) {
    const s = await Spool.create(d, 1000, "", "");
    await s.appendLine(Buffer.from(payload), crlf);
    assert.equal(s.bareLineEnding, bare, JSON.stringify(payload));
    await s.discard();
  }
});

test("BDAT chunks: CRLF split across chunks is fine, bare CR/LF anywhere is caught", async () => {
  const d = await dir();
  const cases: Array<[string[], boolean]> = [
    [["a\r\nb\r\n"], false],
    [["a\r", "\nb\r\n"], false],
    [["a\r", "\n", "b\r", "\n"], false],
    [["a\nb\r\n"], true],
    [["\nb\r\n"], true],
    [["a\r", "b\r\n"], true],
    [["a\r", "\r\n"], true],
    [["a\rb\r\n"], true],
    [["a\r\n", "\n"], true],
    [["a\r"], true], // a CR at the very end
    [[""], false],
  ];
  for (const [chunks, bare] of cases) {
    const s = await Spool.create(d, 1000, "", "");
    for (const c of chunks) await s.appendRaw(Buffer.from(c));
    s.endRaw();
    assert.equal(s.bareLineEnding, bare, JSON.stringify(chunks));
    await s.discard();
  }
});

test("header capture: through the blank line, across pieces; no headers; capped", async () => {
  const d = await dir();
  const s = await Spool.create(d, 10_000_000, "", "");
  for (const piece of ["Subj", "ect: a\r", "\n", "\r", "\nbody\r\n\r\nmore\r\n"]) await s.appendRaw(Buffer.from(piece));
  assert.equal(s.header()?.toString(), "Subject: a\r\n\r\n");
  await s.discard();
  const none = await Spool.create(d, 1000, "", "");
  await none.appendRaw(Buffer.from("\r\nbody only\r\n"));
  assert.equal(none.header()?.toString(), "\r\n");
  await none.discard();
  const huge = await Spool.create(d, 10_000_000, "", "");
  const line = Buffer.from("X-Filler: " + "f".repeat(988));
  for (let i = 0; i <= HEADER_CAP / 1000 + 1; i++) await huge.appendLine(line, true);
  assert.equal(huge.header(), null);
  await huge.discard();
});
