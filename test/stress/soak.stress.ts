// Reliability battery, soak (issue 8; `npm run test:stress`): a bounded run of mixed load against
// a `portcullis serve` child — SMTP deliveries, POP3S sessions that download some messages and
// delete all (the maildrop stays in a steady state), IMAPS
// sessions that APPEND, FETCH and EXPUNGE (when IMAP is present), and a trickle of hostile
// connections. Memory must not grow without bound (RSS sampled; the last third of the run may
// not exceed the middle third by more than 25 % + 32 MiB) and no file descriptor may leak (the
// count of /proc/<pid>/fd after the load is back to where it was before).
//
// SOAK_SECONDS sets the duration (default 600).

import { test } from "node:test";
import assert from "node:assert/strict";
import { makeSetup, serve, withStore, type Served } from "../../bench/lib/portcullis.js";
import { Wire, pop3Login, imapLogin, imapCommand } from "../../bench/lib/wire.js";
import { smtpStream, crashMessage, type Stream } from "../fixtures/crash-load.js";

const SECONDS = Number(process.env.SOAK_SECONDS ?? 600);
const PASSWORD = "Soak-test-pass-5520";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function pop3Cycle(port: number, user: string): Promise<void> {
  const w = await Wire.connect({ port, tls: true });
  try {
    if (!(await w.readLine())?.startsWith("+OK")) throw new Error("pop3 greeting");
    if (!(await pop3Login(w, user, PASSWORD))) throw new Error("pop3 login");
    w.write("STAT\r\n");
    const stat = await w.readLine();
    const total = Number(/^\+OK (\d+)/.exec(stat ?? "")?.[1] ?? 0);
    const n = Math.min(20, total);
    for (let i = 1; i <= n; i++) {
      w.write(`RETR ${i}\r\nDELE ${i}\r\n`);
      if (!(await w.readUntil((l) => l === ".", 30_000))) throw new Error("pop3 RETR");
      if (!(await w.readLine())?.startsWith("+OK")) throw new Error("pop3 DELE");
    }
    // The rest is deleted unread, so that the maildrop stays about the size of what arrived since
    // the last session: memory is measured in a steady state, not following a mailbox that grows
    // for the whole run (SMTP delivers far faster than one client RETRs).
    for (let i = n + 1; i <= total; i += 500) {
      const last = Math.min(total, i + 499);
      let batch = "";
      for (let k = i; k <= last; k++) batch += `DELE ${k}\r\n`;
      w.write(batch);
      for (let k = i; k <= last; k++) if (!(await w.readLine(30_000))?.startsWith("+OK")) throw new Error("pop3 DELE");
    }
    w.write("QUIT\r\n");
    if (!(await w.readLine(60_000))?.startsWith("+OK")) throw new Error("pop3 QUIT (the deletions)");
  } finally {
    w.close();
  }
}

async function imapCycle(port: number, user: string, n: number): Promise<void> {
  const w = await Wire.connect({ port, tls: true });
  try {
    if (!(await w.readLine())?.startsWith("* OK")) throw new Error("imap greeting");
    if (!(await imapLogin(w, user, PASSWORD)).ok) throw new Error("imap login");
    for (let i = 0; i < 5; i++) {
      const msg = crashMessage(`soak-${n}-${i}`, user, user, 2048);
      w.write(`a${i} APPEND INBOX {${Buffer.byteLength(msg)}+}\r\n${msg}\r\n`);
      if (!(await w.readUntil((l) => l.startsWith(`a${i} `), 30_000))) throw new Error("imap APPEND");
    }
    for (const cmd of ["SELECT INBOX", "FETCH 1:* (FLAGS ENVELOPE)", "FETCH 1 BODY.PEEK[]", "SEARCH TEXT soak", "STORE 1:* +FLAGS.SILENT (\\Deleted)", "EXPUNGE", "LOGOUT"]) {
      const r = await imapCommand(w, "c", cmd, 30_000);
      if (!r.ok && cmd !== "LOGOUT") throw new Error(`imap ${cmd}: ${r.status}`);
    }
  } finally {
    w.close();
  }
}

async function hostileTrickle(srv: Served): Promise<void> {
  const ports = [srv.ports.smtp, srv.ports.pop3, srv.ports.imap].filter((p): p is number => !!p);
  const port = ports[Math.floor(Math.random() * ports.length)]!;
  const w = await Wire.connect({ port, localAddress: "127.0.0.2" }).catch(() => null);
  if (!w) return;
  w.write(Buffer.from("GET / HTTP/1.0\r\n\r\n\0\xff\xfe junk\r\n", "latin1"));
  await w.waitClosed(2000);
  w.close();
}

test(`soak: ${SECONDS}s of mixed load, bounded memory, no fd leak`, { timeout: (SECONDS + 300) * 1000 }, async (t) => {
  const setup = await makeSetup({
    users: [["alice@example.test", PASSWORD], ["bob@example.test", PASSWORD]],
    overridesToml: "\n[limits]\nmax_new_connections_per_ip_per_minute = 1000000\nmax_connections_per_ip = 1000\n",
  });
  let srv: Served | null = null;
  try {
    srv = await serve(setup.configFile, { compiled: false });
    const s = srv;
    await sleep(2000);
    const fdBefore = s.fds();
    const samples: number[] = [];
    const errors: string[] = [];
    const end = Date.now() + SECONDS * 1000;
    let smtp: Stream[] = [];
    const loops: Array<Promise<void>> = [];
    const loop = (fn: (i: number) => Promise<void>, pauseMs: number) =>
      loops.push(
        (async () => {
          for (let i = 0; Date.now() < end; i++) {
            try {
              await fn(i);
            } catch (e) {
              errors.push((e as Error).message);
            }
            await sleep(pauseMs);
          }
        })(),
      );
    loop(async (i) => {
      // SMTP: a fresh pair of delivery streams every 10 s (sessions come and go).
      for (const st of smtp) st.stop();
      await Promise.all(smtp.map((st) => st.done));
      smtp = [0, 1].map((k) => smtpStream(s.ports.smtp!, `soak-${i}-${k}`, "alice@example.test"));
      await sleep(10_000);
    }, 0);
    loop(() => pop3Cycle(s.ports.pop3s!, "alice@example.test"), 200);
    if (s.ports.imaps) loop((i) => imapCycle(s.ports.imaps!, "bob@example.test", i), 200);
    loop(() => hostileTrickle(s), 500);
    loop(async () => {
      samples.push(s.rss());
    }, 2000);
    await Promise.all(loops);
    for (const st of smtp) st.stop();
    await Promise.all(smtp.map((st) => st.done));
    await sleep(3000); // let the server notice every close
    const fdAfter = s.fds();

    // How big the delivery target grew: memory that follows the mailbox's size is not a leak.
    const inbox = await withStore(setup.dataDir, async (store) => {
      const a = await store.getAccount("alice@example.test");
      const mb = a ? await store.getMailbox(a.id, "INBOX") : null;
      return mb ? (await store.mailboxStatus(mb.id)).messages : -1;
    }).catch(() => -1);
    const mib = (n: number) => (n / 1048576).toFixed(1);
    const third = Math.floor(samples.length / 3);
    const middle = Math.max(...samples.slice(third, 2 * third));
    const last = Math.max(...samples.slice(2 * third));
    t.diagnostic(`RSS samples (MiB): first ${mib(samples[0] ?? 0)}, middle-third max ${mib(middle)}, last-third max ${mib(last)}; fds ${fdBefore} -> ${fdAfter}; ${errors.length} client errors; alice's INBOX ends with ${inbox} messages`);
    assert.ok(samples.length >= 6, "enough RSS samples");
    assert.equal(s.child.exitCode, null, "the server is still running");
    assert.ok(last <= middle * 1.25 + 32 * 1048576, `RSS keeps growing: middle third max ${mib(middle)} MiB, last third max ${mib(last)} MiB`);
    assert.ok(fdAfter <= fdBefore + 3, `file descriptors leak: ${fdBefore} before, ${fdAfter} after`);
    // Client-side errors during the soak would mean the server stopped serving someone.
    assert.deepEqual(errors.slice(0, 10), [], `${errors.length} client errors`);
  } finally {
    await srv?.stop();
    await setup.cleanup();
  }
});
