import { test } from "node:test";
import assert from "node:assert/strict";
import { InputBuffer, type LineResult } from "./framing.js";

const b = (s: string | number[]): Buffer => (typeof s === "string" ? Buffer.from(s, "latin1") : Buffer.from(s));

function lineOf(r: LineResult): { text: string; crlf: boolean } {
  assert.equal(r.kind, "line", `expected a line, got ${r.kind}`);
  if (r.kind !== "line") throw new Error("unreachable");
  return { text: r.line.bytes.toString("latin1"), crlf: r.line.crlf };
}

test("pipelined lines in one chunk come out one by one, CRLF and bare LF told apart", () => {
  const ib = new InputBuffer();
  ib.push(b("A1 NOOP\r\nA2 NOOP\nA3 LOGOUT\r\nA4 par"));
  assert.deepEqual(lineOf(ib.takeLine(100)), { text: "A1 NOOP", crlf: true });
  assert.deepEqual(lineOf(ib.takeLine(100)), { text: "A2 NOOP", crlf: false });
  assert.deepEqual(lineOf(ib.takeLine(100)), { text: "A3 LOGOUT", crlf: true });
  assert.equal(ib.takeLine(100).kind, "need-more");
  assert.equal(ib.buffered, 6);
  ib.push(b("tial\r\n"));
  assert.deepEqual(lineOf(ib.takeLine(100)), { text: "A4 partial", crlf: true });
  assert.equal(ib.buffered, 0);
});

test("empty lines and a lone CR before LF", () => {
  const ib = new InputBuffer();
  ib.push(b("\r\n\n\r\r\n"));
  assert.deepEqual(lineOf(ib.takeLine(10)), { text: "", crlf: true });
  assert.deepEqual(lineOf(ib.takeLine(10)), { text: "", crlf: false });
  assert.deepEqual(lineOf(ib.takeLine(10)), { text: "\r", crlf: true });
});

test("a line split over many chunks, one byte at a time, including CR and LF in separate chunks", () => {
  const ib = new InputBuffer();
  const text = "MAIL FROM:<someone@example.test> SIZE=1000";
  for (const ch of text + "\r") {
    ib.push(b(ch));
    assert.equal(ib.takeLine(600).kind, "need-more");
  }
  ib.push(b("\n"));
  assert.deepEqual(lineOf(ib.takeLine(600)), { text, crlf: true });
});

test("a CR at the end of one large chunk and the LF opening the next", () => {
  const ib = new InputBuffer();
  const big = "x".repeat(2000);
  ib.push(b(big + "\r"));
  assert.equal(ib.takeLine(5000).kind, "need-more");
  ib.push(b("\n" + "y".repeat(1000) + "\n"));
  assert.deepEqual(lineOf(ib.takeLine(5000)), { text: big, crlf: true });
  assert.deepEqual(lineOf(ib.takeLine(5000)), { text: "y".repeat(1000), crlf: false });
});

test("a long line across mixed large and small chunks is assembled intact", () => {
  const ib = new InputBuffer();
  const parts: string[] = [];
  for (let i = 0; i < 200; i++) parts.push(String.fromCharCode(97 + (i % 26)).repeat(i % 3 === 0 ? 700 : 7));
  for (const p of parts) ib.push(b(p));
  ib.push(b("\r\nNEXT\r\n"));
  const r = lineOf(ib.takeLine(1_000_000));
  assert.equal(r.text, parts.join(""));
  assert.equal(r.crlf, true);
  assert.deepEqual(lineOf(ib.takeLine(10)), { text: "NEXT", crlf: true });
});

test("NUL and 8-bit bytes pass through untouched", () => {
  const ib = new InputBuffer();
  ib.push(b([0x41, 0x00, 0x42, 0xff, 0xe9, 0x80, 0x0d, 0x0a]));
  const r = ib.takeLine(10);
  assert.equal(r.kind, "line");
  if (r.kind === "line") assert.deepEqual([...r.line.bytes], [0x41, 0x00, 0x42, 0xff, 0xe9, 0x80]);
});

test("a line of exactly maxBytes is accepted; maxBytes + 1 is too long", () => {
  const ib = new InputBuffer();
  ib.push(b("12345\r\n123456\r\nok\r\n"));
  assert.deepEqual(lineOf(ib.takeLine(5)), { text: "12345", crlf: true });
  assert.equal(ib.takeLine(5).kind, "too-long");
  // The over-long line was complete in the buffer: it is dropped, and the next line is intact.
  assert.deepEqual(lineOf(ib.takeLine(5)), { text: "ok", crlf: true });
});

test("an unterminated over-long line is dropped at once and its rest discarded as it arrives", () => {
  const ib = new InputBuffer();
  ib.push(b("PASS " + "a".repeat(300)));
  assert.equal(ib.takeLine(253).kind, "too-long");
  assert.equal(ib.buffered, 0, "nothing of the over-long line stays buffered");
  // 5000 more a's (seed 001): none of it is kept.
  for (let i = 0; i < 50; i++) {
    ib.push(b("a".repeat(100)));
    assert.equal(ib.buffered, 0);
  }
  assert.equal(ib.takeLine(253).kind, "need-more");
  ib.push(b("aaaa\r\nQUIT\r\n"));
  assert.deepEqual(lineOf(ib.takeLine(253)), { text: "QUIT", crlf: true });
  assert.equal(ib.discardedBytes, 305 + 5000 + 6);
});

test("the limit allows a trailing CR to wait for its LF", () => {
  const ib = new InputBuffer();
  ib.push(b("12345\r"));
  assert.equal(ib.takeLine(5).kind, "need-more");
  ib.push(b("\n"));
  assert.deepEqual(lineOf(ib.takeLine(5)), { text: "12345", crlf: true });
});

test("EOF between lines is eof, in the middle of a line eof-mid-line", () => {
  const ib = new InputBuffer();
  ib.push(b("QUIT\r\n"));
  ib.end();
  assert.deepEqual(lineOf(ib.takeLine(10)), { text: "QUIT", crlf: true });
  assert.equal(ib.takeLine(10).kind, "eof");

  const ib2 = new InputBuffer();
  ib2.push(b("QU"));
  ib2.end();
  assert.equal(ib2.takeLine(10).kind, "eof-mid-line");
});

test("literal reads after a line: exact byte counts, then line reading resumes", () => {
  const ib = new InputBuffer();
  ib.push(b("A1 LOGIN {5}\r\nab\r\ncd {3}\r\nxyz\r\n"));
  assert.deepEqual(lineOf(ib.takeLine(100)), { text: "A1 LOGIN {5}", crlf: true });
  const lit: Buffer[] = [];
  let need = 5;
  while (need > 0) {
    const c = ib.takeBytes(need);
    assert.ok(c);
    lit.push(c);
    need -= c.length;
  }
  assert.equal(Buffer.concat(lit).toString(), "ab\r\nc");
  assert.deepEqual(lineOf(ib.takeLine(100)), { text: "d {3}", crlf: true });
  assert.equal(ib.takeBytes(3)!.toString(), "xyz");
  assert.deepEqual(lineOf(ib.takeLine(100)), { text: "", crlf: true });
});

test("a literal split over chunks is returned piece by piece without copying; truncated at EOF", () => {
  const ib = new InputBuffer();
  ib.push(b("x".repeat(1000)));
  ib.push(b("y".repeat(1000)));
  const first = ib.takeBytes(1500)!;
  assert.equal(first.length, 1000, "one chunk at a time");
  const second = ib.takeBytes(500)!;
  assert.equal(second.toString(), "y".repeat(500));
  ib.end();
  // 500 buffered, 1000 wanted: the caller sees what is left and then nothing (truncated literal).
  assert.equal(ib.takeBytes(1000)!.length, 500);
  assert.equal(ib.takeBytes(1000), null);
  assert.equal(ib.atEnd, true);
});

test("discardAll drops pipelined input (STARTTLS) and reports its size", () => {
  const ib = new InputBuffer();
  ib.push(b("STARTTLS\r\nECHO injected\r\n"));
  assert.deepEqual(lineOf(ib.takeLine(100)), { text: "STARTTLS", crlf: true });
  assert.equal(ib.discardAll(), "ECHO injected\r\n".length);
  assert.equal(ib.takeLine(100).kind, "need-more");
});

test("lines handed out stay intact while more small chunks are coalesced behind them", () => {
  const ib = new InputBuffer();
  ib.push(b("ONE\r\n"));
  const one = ib.takeLine(10);
  ib.push(b("TWO\r\n"));
  const two = ib.takeLine(10);
  ib.push(b("THREE\r\n"));
  assert.deepEqual(lineOf(one), { text: "ONE", crlf: true });
  assert.deepEqual(lineOf(two), { text: "TWO", crlf: true });
  assert.deepEqual(lineOf(ib.takeLine(10)), { text: "THREE", crlf: true });
});

test("many small chunks: scanning stays linear (a 64 KB line at one byte per chunk)", () => {
  const ib = new InputBuffer();
  const started = Date.now();
  const one = b("z");
  for (let i = 0; i < 64 * 1024; i++) {
    ib.push(one);
    if (i % 64 === 0) assert.equal(ib.takeLine(64 * 1024).kind, "need-more");
  }
  ib.push(b("\r\n"));
  const r = ib.takeLine(64 * 1024);
  assert.equal(r.kind, "line");
  if (r.kind === "line") assert.equal(r.line.bytes.length, 64 * 1024);
  assert.ok(Date.now() - started < 2000);
});

test("thousands of pipelined lines in one chunk", () => {
  const ib = new InputBuffer();
  const n = 5000;
  ib.push(b(Array.from({ length: n }, (_, i) => `RCPT TO:<u${i}@example.test>\r\n`).join("")));
  for (let i = 0; i < n; i++) assert.equal(lineOf(ib.takeLine(510)).text, `RCPT TO:<u${i}@example.test>`);
  assert.equal(ib.takeLine(510).kind, "need-more");
});

/** A tiny deterministic PRNG so failures can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

test("random chunking: lines and literals come out exactly as a reference splitter says", () => {
  for (let seed = 1; seed <= 200; seed++) {
    const rand = rng(seed);
    // A script of items: lines (some bare LF, some with NUL/8-bit/CR inside) and literals.
    const items: Array<{ kind: "line"; text: Buffer; crlf: boolean } | { kind: "lit"; data: Buffer }> = [];
    const parts: Buffer[] = [];
    for (let i = 0; i < 30; i++) {
      if (rand() < 0.25) {
        const data = Buffer.from(Array.from({ length: Math.floor(rand() * 3000) }, () => Math.floor(rand() * 256)));
        items.push({ kind: "lit", data });
        parts.push(data);
      } else {
        const len = rand() < 0.1 ? Math.floor(rand() * 5000) : Math.floor(rand() * 80);
        // No LF inside a line; a CR may appear anywhere but not as the last octet.
        const text = Buffer.from(Array.from({ length: len }, () => { const b = Math.floor(rand() * 256); return b === 0x0a ? 0x20 : b; }));
        if (text.length > 0 && text[text.length - 1] === 0x0d) text[text.length - 1] = 0x41;
        const crlf = rand() < 0.8;
        items.push({ kind: "line", text, crlf });
        parts.push(text, Buffer.from(crlf ? "\r\n" : "\n"));
      }
    }
    const all = Buffer.concat(parts);
    const ib = new InputBuffer();
    let fed = 0;
    const feed = (): boolean => {
      if (fed >= all.length) return false;
      const r = rand();
      const size = r < 0.3 ? 1 : r < 0.6 ? 1 + Math.floor(rand() * 600) : 1 + Math.floor(rand() * 9000);
      ib.push(all.subarray(fed, Math.min(all.length, fed + size)));
      fed += size;
      return true;
    };
    for (const item of items) {
      if (item.kind === "line") {
        let r = ib.takeLine(6000);
        while (r.kind === "need-more") {
          assert.ok(feed(), `seed ${seed}: ran out of input`);
          r = ib.takeLine(6000);
        }
        assert.equal(r.kind, "line", `seed ${seed}`);
        if (r.kind === "line") {
          assert.ok(r.line.bytes.equals(item.text), `seed ${seed}: line content`);
          assert.equal(r.line.crlf, item.crlf, `seed ${seed}: line ending`);
        }
      } else {
        const got: Buffer[] = [];
        let need = item.data.length;
        while (need > 0) {
          const c = ib.takeBytes(need);
          if (!c) {
            assert.ok(feed(), `seed ${seed}: ran out of input in a literal`);
            continue;
          }
          got.push(c);
          need -= c.length;
        }
        assert.ok(Buffer.concat(got).equals(item.data), `seed ${seed}: literal content`);
      }
    }
    while (feed());
    assert.equal(ib.buffered, 0, `seed ${seed}: nothing left over`);
  }
});

test("random chunking with a small limit: the buffer never holds more than limit + 1 plus one chunk", () => {
  for (let seed = 1; seed <= 50; seed++) {
    const rand = rng(seed * 7919);
    const ib = new InputBuffer();
    const limit = 100;
    let lines = 0;
    let tooLong = 0;
    for (let i = 0; i < 400; i++) {
      const size = 1 + Math.floor(rand() * 300);
      const chunk = Buffer.from(Array.from({ length: size }, () => (rand() < 0.005 ? 0x0a : 0x61)));
      ib.push(chunk);
      for (;;) {
        const r = ib.takeLine(limit);
        if (r.kind === "line") {
          assert.ok(r.line.bytes.length <= limit);
          lines++;
        } else if (r.kind === "too-long") tooLong++;
        else break;
      }
      assert.ok(ib.buffered <= limit + 1, `seed ${seed}: ${ib.buffered} octets buffered`);
    }
    assert.ok(tooLong > 0 && lines + tooLong > 0);
  }
});
