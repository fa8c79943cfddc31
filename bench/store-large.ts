// Benchmark: a mailbox of 100,000 messages in the embedded store.
// Run: node --import tsx bench/store-large.ts [count]
// Prints the append rate, and the time of listMessages, mailboxStatus, storeFlags on one
// message and appendMessage of one more message at 0 and at `count` messages, plus memory.

import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { openStore } from "../src/store/index.js";

const COUNT = Number(process.argv[2] ?? 100_000);
const BATCH = 200; // appends in flight at once (group-committed by the store)

function body(i: number): Buffer {
  return Buffer.from(
    `From: bench${i % 97}@example.test\r\nTo: user@example.test\r\nSubject: message ${i}\r\n` +
      `Message-ID: <${i}.bench@example.test>\r\n\r\nHello, this is message number ${i}.\r\n`,
  );
}

const ms = (t0: number): string => `${(performance.now() - t0).toFixed(2)} ms`;

/** Median time of `n` sequential runs of `fn` (single timings are noisy on a shared machine). */
async function median(n: number, fn: (i: number) => Promise<unknown>): Promise<string> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn(i);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return `${times[Math.floor(n / 2)]!.toFixed(2)} ms (median of ${n}; min ${times[0]!.toFixed(2)}, max ${times[n - 1]!.toFixed(2)})`;
}
const mb = (n: number): string => `${(n / 1048576).toFixed(1)} MiB`;

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "portcullis-bench-"));
  try {
    const store = await openStore(dir);
    await store.addDomain("example.test");
    const acct = await store.createAccount("user@example.test");
    const inbox = (await store.getMailbox(acct.id, "INBOX"))!;

    console.log(`appendMessage at 0 messages:       ${await median(21, (i) => store.appendMessage(inbox.id, { body: body(-1 - i) }))}`);
    console.log(`storeFlags at 0 messages:          ${await median(21, (i) => store.storeFlags(inbox.id, [1 + (Math.floor(i / 2) % 5)], i % 2 ? "remove" : "add", ["\\Flagged"]))}`);
    let t = performance.now();

    const t0 = performance.now();
    for (let i = 0; i < COUNT; i += BATCH) {
      const n = Math.min(BATCH, COUNT - i);
      await Promise.all(Array.from({ length: n }, (_, k) => store.appendMessage(inbox.id, { body: body(i + k), flags: (i + k) % 3 ? ["\\Seen"] : [] })));
    }
    const secs = (performance.now() - t0) / 1000;
    console.log(`appended ${COUNT} messages in ${secs.toFixed(1)} s: ${(COUNT / secs).toFixed(0)} messages/s (batches of ${BATCH})`);

    t = performance.now();
    const list = await store.listMessages(inbox.id);
    console.log(`listMessages (${list.length}):          ${ms(t)}`);

    t = performance.now();
    const st = await store.mailboxStatus(inbox.id);
    console.log(`mailboxStatus:                     ${ms(t)}  (messages ${st.messages}, unseen ${st.unseen}, size ${st.size})`);

    const mid = list[Math.floor(list.length / 2)]!.uid;
    console.log(`storeFlags on one message at ${COUNT}: ${await median(21, (i) => store.storeFlags(inbox.id, [mid + (Math.floor(i / 2) % 5)], i % 2 ? "remove" : "add", ["\\Flagged"]))}`);
    console.log(`appendMessage at ${COUNT} messages: ${await median(21, (i) => store.appendMessage(inbox.id, { body: body(COUNT + i) }))}`);

    t = performance.now();
    await store.getMessages(inbox.id, [mid]);
    console.log(`getMessages of one uid:            ${ms(t)}`);

    t = performance.now();
    const ch = await store.changesSince(inbox.id, st.highestModseq);
    console.log(`changesSince (${ch.changed.length} changed):         ${ms(t)}`);

    await store.close();
    t = performance.now();
    const again = await openStore(dir);
    console.log(`re-open (orphan scan included):    ${ms(t)}`);
    t = performance.now();
    const report = await again.checkIntegrity();
    console.log(`checkIntegrity:                    ${ms(t)}  (ok ${report.ok}, ${report.messages} messages, ${report.blobs} blobs)`);
    await again.close();

    const m = process.memoryUsage();
    console.log(`memory: rss ${mb(m.rss)}, heap used ${mb(m.heapUsed)}, external ${mb(m.external)}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
