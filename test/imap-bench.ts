// Benchmark (run by hand, not part of the test suite): SELECT, UID FETCH 1:* (FLAGS), SEARCH and
// CHANGEDSINCE on a mailbox of N messages (default 100,000), over a real TLS session.
//   N=100000 node --import tsx test/imap-bench.ts
// Measured 2026-11-22 on the shared 2-core dev machine, N=100000: SELECT 0.8 s, UID FETCH 1:*
// (FLAGS) 1.0 s, SEARCH UNSEEN 2.1 s, UID SEARCH SUBJECT 2.4 s, FETCH 1:1000 (ENVELOPE
// BODYSTRUCTURE) 0.06 s. Most of the SELECT/SEARCH time is the store decoding every message's
// stored structure in listMessages (see the IMAP report).

import { startTestServer } from "./helpers/server.js";
import { RawImap, PASSWORD, sampleMessage } from "./imap-helpers.js";
import { parseMessage } from "../src/imap/mime.js";
const N = Number(process.env.N ?? 100000);
const srv = await startTestServer();
try {
  const acc = await srv.addUser("bench@example.test", PASSWORD);
  const mb = (await srv.services.store.getMailbox(acc.id, "INBOX"))!;
  let t = Date.now();
  const body = Buffer.from(sampleMessage("bench"));
  const parsed = parseMessage(body);
  let next = 0;
  await Promise.all(Array.from({ length: 200 }, async () => {
    while (next < N) { next++; await srv.services.store.appendMessage(mb.id, { body, parsed, flags: next % 3 ? ["\\Seen"] : [] }); }
  }));
  console.log(`append ${N}: ${Date.now() - t} ms`);
  const c = await RawImap.connect(srv, { implicitTls: true });
  await c.login("bench@example.test");
  for (const cmd of ["SELECT INBOX", "UID FETCH 1:* (FLAGS)", "SEARCH UNSEEN", "UID SEARCH SUBJECT bench", "FETCH 1:1000 (ENVELOPE BODYSTRUCTURE)", "UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE 1)", "NOOP"]) {
    t = Date.now();
    const r = await c.cmd(cmd, 120000);
    console.log(`${cmd}: ${Date.now() - t} ms, ${r.length} bytes, ${r.slice(-40).trim()}`);
  }
  console.log("rss MB", Math.round(process.memoryUsage().rss / 1e6));
  c.close();
} finally { await srv.stop(); }
