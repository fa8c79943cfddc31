// Reliability battery, crash (issue 8): a `portcullis serve` child receives a stream of SMTP
// deliveries and (when IMAP is present) IMAP APPENDs and is killed with SIGKILL at a random
// moment, over several rounds, restarting on the same data directory each time. Afterwards every
// acknowledged message is in the store exactly once, no message is half-written, `portcullis
// check --store` is clean, and a message queued for a remote domain (routed to a closed port)
// before the first crash is still queued.

import { test } from "node:test";
import assert from "node:assert/strict";
import { makeSetup, serve, withStore, runCli, type Served } from "../bench/lib/portcullis.js";
import { freePort } from "../bench/lib/peers.js";
import { smtpStream, imapAppendStream, submitRemote, inventory, type Stream } from "./fixtures/crash-load.js";

const USER = "alice@example.test";
const PASSWORD = "Crash-test-pass-9931";
const ROUNDS = Number(process.env.CRASH_ROUNDS ?? 4);

test(`kill -9 during deliveries and APPENDs (${ROUNDS} rounds): acknowledged mail survives exactly once`, { timeout: 180_000 }, async (t) => {
  const closedPort = await freePort(); // nothing listens there: remote delivery stays deferred
  const setup = await makeSetup({
    users: [[USER, PASSWORD]],
    overridesToml: `
[limits]
max_new_connections_per_ip_per_minute = 100000
[outbound]
routes = { "remote.test" = "127.0.0.1:${closedPort}" }
`,
  });
  let srv: Served | null = null;
  try {
    const acked: string[] = [];
    const unknown: string[] = [];
    let queuedId = "";
    let imapRounds = 0;
    for (let round = 0; round < ROUNDS; round++) {
      srv = await serve(setup.configFile);
      if (round === 0) {
        const r = await submitRemote(srv.ports.submissions!, USER, PASSWORD, "bob@remote.test", "queued-0");
        assert.equal(r.code, 250, `submission to a remote domain accepted: ${r.text}`);
        queuedId = "queued-0";
      }
      const streams: Stream[] = [0, 1, 2].map((k) => smtpStream(srv!.ports.smtp!, `r${round}s${k}`, USER));
      if (srv.ports.imaps) {
        imapRounds++;
        streams.push(imapAppendStream(srv.ports.imaps, `r${round}i`, USER, PASSWORD));
      }
      // Let the streams get going, then kill at a random moment.
      await new Promise((r) => setTimeout(r, 400 + Math.floor(Math.random() * 1200)));
      await srv.kill9();
      for (const s of streams) s.stop();
      await Promise.all(streams.map((s) => s.done.catch(() => undefined)));
      for (const s of streams) {
        acked.push(...s.acked);
        unknown.push(...s.unknown);
      }
      srv = null;
    }
    assert.ok(acked.length >= ROUNDS, `enough messages were acknowledged before the kills (${acked.length})`);

    // A last clean start and stop on the same data: recovery must not need anything else.
    srv = await serve(setup.configFile);
    await srv.stop();
    srv = null;

    const inv = await withStore(setup.dataDir, async (store) => ({ ...(await inventory(store, USER)), queue: await store.listQueue() }));
    t.diagnostic(`${acked.length} acknowledged (${acked.filter((id) => /i-/.test(id)).length} by IMAP), ${unknown.length} unacknowledged, ${inv.total} stored, ${imapRounds} rounds with IMAP`);
    assert.deepEqual(inv.problems, [], "no half-written or inconsistent message is visible");
    const missing = acked.filter((id) => (inv.counts.get(id) ?? 0) !== 1);
    assert.deepEqual(
      missing.map((id) => `${id}: ${inv.counts.get(id) ?? 0} copies`),
      [],
      `every acknowledged message is present exactly once (${acked.length} acknowledged, ${inv.total} stored)`,
    );
    const dupes = [...inv.counts].filter(([, n]) => n > 1);
    assert.deepEqual(dupes, [], "no message is stored twice");
    const known = new Set([...acked, ...unknown]);
    const strangers = [...inv.counts.keys()].filter((id) => !known.has(id));
    assert.deepEqual(strangers, [], "nothing is stored that was not sent");
    if (imapRounds > 0) assert.ok(acked.some((id) => /i-/.test(id)), "IMAP APPENDs were acknowledged");

    const queued = inv.queue.filter((q) => q.domain === "remote.test");
    assert.equal(queued.length, 1, `the message for the remote domain is still queued (${queuedId})`);
    assert.deepEqual(queued[0]!.recipients.map((r) => [r.address, r.status]), [["bob@remote.test", "pending"]]);

    const check = await runCli(["check", "--store", "--config", setup.configFile]);
    assert.equal(check.code, 0, `portcullis check --store is clean:\n${check.output}`);
    assert.match(check.output, /store: ok/);
  } finally {
    await srv?.kill9();
    await setup.cleanup();
  }
});
