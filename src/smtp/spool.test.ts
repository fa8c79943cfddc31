// The spool: size limit enforced while streaming (the file never grows past it), bare CR/LF
// detection for DATA lines and BDAT chunks (across chunk boundaries), header capture, modes.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, stat, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Spool, spoolDir, HEADER_CAP } from "./spool.js";

const roots: string[] = [];
after(async () => {
  await Promise.all(roots.map((r) => rm(r, { recursive: true, force: true })));
});

async function dir(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), "portcullis-spool-"));
  roots.push(root);
  return spoolDir(root);
}

test("layout: Return-Path, Received, message; file 0600 in a 0700 directory; queue copy drops Return-Path", async () => {
  const d = await dir();
  assert.equal((await stat(d)).mode & 0o777, 0o700);
  const s = await Spool.create(d, 1000, "Return-Path: <a@b>\r\n", "Received: x\r\n");
  await s.appendLine(Buffer.from("Subject: hi"), true);
  await s.appendLine(Buffer.from(""), true);
  await s.appendLine(Buffer.from("body"), true);
  const size = await s.finish();
  assert.equal((await stat(s.path)).mode & 0o777, 0o600);
  const text = "Return-Path: <a@b>\r\nReceived: x\r\nSubject: hi\r\n\r\nbody\r\n";
  assert.equal((await readFile(s.path)).toString(), text);
  assert.equal(size, Buffer.byteLength(text));
  assert.equal(s.size, Buffer.byteLength("Subject: hi\r\n\r\nbody\r\n"));
  assert.equal(s.header()?.toString(), "Subject: hi\r\n\r\n");
  assert.equal(s.bareLineEnding, false);
  const q = await s.copyForQueue(d);
  assert.equal((await readFile(q.path)).toString(), "Received: x\r\nSubject: hi\r\n\r\nbody\r\n");
  assert.equal(q.size, (await stat(q.path)).size);
  await s.discard();
  await s.discard();
  await assert.rejects(stat(s.path));
});

test("size limit: nothing is written past it, however much arrives", async () => {
  const d = await dir();
  const s = await Spool.create(d, 10_000, "", "");
  const line = Buffer.from("x".repeat(998));
  for (let i = 0; i < 1000; i++) await s.appendLine(line, true);
  assert.equal(s.overLimit, true);
  assert.equal(s.size, 1000 * 1000);
  await s.finish();
  assert.ok((await stat(s.path)).size <= 10_000, "the file stays under the limit");
  await s.discard();
});

test("many short lines flush correctly (no iovec limit)", async () => {
  const d = await dir();
  const s = await Spool.create(d, 10_000_000, "", "");
  for (let i = 0; i < 100_000; i++) await s.appendLine(Buffer.from(i % 2 ? "a" : ""), true);
  const size = await s.finish();
  assert.equal(size, 50_000 * 2 + 50_000 * 3);
  assert.equal((await stat(s.path)).size, size);
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
