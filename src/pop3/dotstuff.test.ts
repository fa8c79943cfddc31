// The streaming transforms, checked against a whole-buffer reference with the input split at
// every possible position (and into single bytes), so chunk boundaries cannot hide a bug.

import { test } from "node:test";
import assert from "node:assert/strict";
import { DotStuffer, TopLimiter } from "./dotstuff.js";

/** The reference: RFC 1939 §3 byte-stuffing of a whole buffer, plus the terminator. */
function stuffWhole(body: string): string {
  let out = body.replace(/(^|\n)\./g, "$1..");
  if (out.length > 0 && !out.endsWith("\n")) out += "\r\n";
  return out + ".\r\n";
}

/** The reference for TOP: header, blank line, then n body lines (lines kept with their ends). */
function topWhole(body: string, n: number): string {
  const lines = body.match(/[^\n]*\n|[^\n]+$/g) ?? [];
  const blank = lines.findIndex((l) => l === "\r\n" || l === "\n");
  if (blank === -1) return body;
  return lines.slice(0, blank + 1 + n).join("");
}

function runStuffer(chunks: Buffer[]): string {
  const s = new DotStuffer();
  const out = chunks.map((c) => s.push(c));
  out.push(s.end());
  return Buffer.concat(out).toString("latin1");
}

function runTop(chunks: Buffer[], n: number): { out: string; consumedAll: boolean } {
  const t = new TopLimiter(n);
  const out: Buffer[] = [];
  let i = 0;
  for (; i < chunks.length && !t.done; i++) out.push(t.push(chunks[i]!));
  return { out: Buffer.concat(out).toString("latin1"), consumedAll: i === chunks.length };
}

function splits(body: string): Buffer[][] {
  const b = Buffer.from(body, "latin1");
  const all: Buffer[][] = [[b]];
  for (let i = 0; i <= b.length; i++) all.push([b.subarray(0, i), b.subarray(i)]);
  for (let i = 0; i + 2 <= b.length; i++) all.push([b.subarray(0, i), b.subarray(i, i + 2), b.subarray(i + 2)]);
  all.push([...b].map((x) => Buffer.from([x])));
  return all;
}

const BODIES = [
  "",
  "Subject: hi\r\n\r\nbody\r\n",
  ".\r\n",
  "..\r\n",
  ".hidden\r\n",
  "Subject: dots\r\n\r\n.\r\n..\r\n.a\r\nb.\r\n.\r\n",
  "A: 1\r\n\r\n.leading\r\nmiddle . dot\r\n\r\n.\r\n",
  "no final line end",
  "A: 1\r\n\r\nlast line without CRLF.",
  ".",
  "A: 1\n\n.bare\nLF\n.\n",
  "\r\n\r\n.\r\n",
  "X: y\r\n\r\n" + ".line\r\n".repeat(5),
];

test("dot-stuffing matches the reference at every chunk boundary", () => {
  for (const body of BODIES) {
    const want = stuffWhole(body);
    for (const chunks of splits(body)) assert.equal(runStuffer(chunks), want, `body ${JSON.stringify(body)} split ${chunks.map((c) => c.length)}`);
  }
});

test("dot-stuffing: explicit examples", () => {
  assert.equal(runStuffer([Buffer.from("a\r\n.\r\nb\r\n")]), "a\r\n..\r\nb\r\n.\r\n");
  assert.equal(runStuffer([Buffer.from(".x\r\n"), Buffer.from(".y")]), "..x\r\n..y\r\n.\r\n");
  assert.equal(runStuffer([]), ".\r\n");
  // the terminator cannot be forged from inside a message
  const out = runStuffer([Buffer.from("Subject: x\r\n\r\nfake end\r\n.\r\n+OK injected\r\n")]);
  assert.equal(out.indexOf("\r\n.\r\n"), out.length - 5);
});

test("unchanged chunks pass through without copying", () => {
  const s = new DotStuffer();
  const c = Buffer.from("no dots at line starts\r\n");
  assert.equal(s.push(c), c);
});

test("TOP matches the reference for every line count at every chunk boundary", () => {
  for (const body of BODIES) {
    for (const n of [0, 1, 2, 3, 100]) {
      const want = topWhole(body, n);
      for (const chunks of splits(body)) assert.equal(runTop(chunks, n).out, want, `body ${JSON.stringify(body)} n=${n} split ${chunks.map((c) => c.length)}`);
    }
  }
});

test("TOP stops reading as soon as it has what it needs", () => {
  const head = Buffer.from("Subject: big\r\n\r\nline 1\r\nline 2\r\n");
  const rest = Array.from({ length: 1000 }, () => Buffer.from("x".repeat(1000) + "\r\n"));
  const r = runTop([head, ...rest], 2);
  assert.equal(r.out, head.toString("latin1"));
  assert.equal(r.consumedAll, false);
  const r0 = runTop([head, ...rest], 0);
  assert.equal(r0.out, "Subject: big\r\n\r\n");
});

test("TOP + stuffing: dots in headers and body lines are stuffed", () => {
  const t = new TopLimiter(1);
  const s = new DotStuffer();
  const out = Buffer.concat([s.push(t.push(Buffer.from("X: 1\r\n\r\n.one\r\n.two\r\n"))), s.end()]).toString();
  assert.equal(out, "X: 1\r\n\r\n..one\r\n.\r\n");
});

test("a large message streams in bounded pieces", () => {
  const s = new DotStuffer();
  const chunk = Buffer.from(("." + "y".repeat(998) + "\r\n").repeat(64));
  let total = 0;
  for (let i = 0; i < 800; i++) {
    const o = s.push(chunk);
    assert.ok(o.length <= chunk.length + 64);
    total += o.length;
  }
  total += s.end().length;
  assert.equal(total, 800 * (chunk.length + 64) + 3);
});
