// Fuzzing the session in each state with random command lines (a seeded PRNG, so failures
// replay): the session never throws, never deletes without QUIT, and every reply it sends in
// answer to garbage is a single "+OK"/"-ERR" status line or a well-formed multi-line response.

import { test } from "node:test";
import assert from "node:assert/strict";
import { createPop3Handler } from "./index.js";
import { FakeConnection, pop3Fixture } from "../../test/fixtures/pop3-fakes.js";

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const WORDS = ["USER", "PASS", "STAT", "LIST", "RETR", "DELE", "NOOP", "RSET", "QUIT", "TOP", "UIDL", "CAPA", "AUTH", "STLS", "APOP", "PLAIN", "*", "=", "0", "1", "2", "3", "-1", "99999999999", "."];

function randomLine(rand: () => number): Buffer {
  const kind = rand();
  if (kind < 0.5) {
    // plausible commands with random arguments
    const n = 1 + Math.floor(rand() * 3);
    const parts = Array.from({ length: n }, () => WORDS[Math.floor(rand() * WORDS.length)]!);
    if (rand() < 0.3) parts[0] = parts[0]!.toLowerCase();
    return Buffer.from(parts.join(rand() < 0.9 ? " " : "  "));
  }
  // random bytes, no LF (the fake reader splits on LF), at most 253 octets
  const len = Math.floor(rand() * 253);
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) {
    let x = Math.floor(rand() * 256);
    if (x === 0x0a) x = 0x20;
    b[i] = x;
  }
  return b;
}

/** Checks the transcript: status lines start with +OK/-ERR/"+ ", multi-line bodies end with ".". */
function checkTranscript(out: string): void {
  const lines = out.split("\r\n");
  assert.equal(lines.pop(), "", "output ends with CRLF");
  let i = 0;
  const multi = /^\+OK (capability list follows|\d+ messages \(\d+ octets\)|unique-id listing follows|SASL mechanisms follow|top of message follows|\d+ octets)$/;
  while (i < lines.length) {
    const l = lines[i]!;
    assert.match(l, /^(\+OK|-ERR|\+ )/, `line ${i}: ${JSON.stringify(l)}`);
    i++;
    if (multi.test(l)) {
      while (i < lines.length && lines[i] !== ".") i++;
      assert.equal(lines[i], ".", "multi-line response terminated");
      i++;
    }
  }
}

for (const state of ["authorization", "transaction"] as const) {
  test(`fuzz: random lines in ${state.toUpperCase()}`, async () => {
    for (let seed = 1; seed <= 40; seed++) {
      const rand = prng(seed * 7919 + (state === "transaction" ? 1 : 0));
      const fx = pop3Fixture();
      fx.store.append("alice@example.test", "Subject: a\r\n\r\n.x\r\nbody\r\n");
      fx.store.append("alice@example.test", "Subject: b\r\n\r\nbody\r\n");
      const conn = new FakeConnection({ log: fx.services.log });
      const lines: Buffer[] = [];
      if (state === "transaction") lines.push(Buffer.from("USER alice@example.test"), Buffer.from("PASS alice pw"));
      // QUIT is filtered out so that the whole batch runs; without QUIT nothing may be deleted
      for (let k = 0; k < 60; k++) {
        const l = randomLine(rand);
        if (/^\s*quit/i.test(l.toString("latin1"))) continue;
        lines.push(l);
      }
      conn.feed(Buffer.concat(lines.flatMap((l) => [l, Buffer.from("\r\n")])));
      conn.endInput();
      await assert.doesNotReject(createPop3Handler(fx.services).serve(conn), `seed ${seed}`);
      checkTranscript(conn.output());
      if (state === "transaction") assert.match(conn.output(), /\+OK maildrop has 2 messages/);
      assert.deepEqual(fx.store.expunged, [], `seed ${seed}: deleted without QUIT`);
      assert.ok(!fx.logLines.some((l) => l.event === "session.error"), `seed ${seed}: internal error`);
    }
  });
}
