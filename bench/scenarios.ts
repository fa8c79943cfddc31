// The benchmark scenarios of issue 8, each run against Portcullis (a `portcullis serve` child
// with a fresh setup) and, when installed, against its peer (a private Postfix or Dovecot), with
// the same neutral client: Postfix's smtp-source for SMTP throughput, bench/lib/wire.ts for the
// rest. Each scenario returns rows for the table; a figure that could not be measured is null
// and the row says why.
//
// Invariants: every process a scenario starts is stopped in a `finally`; every scratch directory
// is removed; no scenario assumes a protocol module exists (IMAP rows say "skipped" without it).

import { execFile, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import { makeSetup, serve, withStore, type Served, type Setup } from "./lib/portcullis.js";
import { startNxDns } from "./lib/dns.js";
import { startDovecot, startPostfix, postfixAvailable, dovecotAvailable, findProgram, treeCpuSeconds, type DovecotInstance } from "./lib/peers.js";
import { Wire, smtpReply, smtpSend, makeMessage, pop3Login, imapLogin, imapCommand, percentile } from "./lib/wire.js";

export interface Row {
  scenario: string;
  metric: string;
  unit: string;
  portcullis: number | null;
  peer: number | null;
  peerName: string;
  note?: string;
}

export interface Scale {
  name: "small" | "full";
  smtpMessagesPerSession: number;
  imapMailbox: number;
  imapClients: number;
  imapSeconds: number;
  idleCounts: number[];
  largeImap: number;
  largePop3: number;
  attackSeconds: number;
}

export const SCALES: Record<"small" | "full", Scale> = {
  small: { name: "small", smtpMessagesPerSession: 10, imapMailbox: 1000, imapClients: 4, imapSeconds: 10, idleCounts: [200], largeImap: 10_000, largePop3: 5_000, attackSeconds: 8 },
  full: { name: "full", smtpMessagesPerSession: 500, imapMailbox: 10_000, imapClients: 8, imapSeconds: 60, idleCounts: [1000, 5000], largeImap: 100_000, largePop3: 50_000, attackSeconds: 60 },
};

const PASSWORD = "bench-Password-7f3c9a1e";
const SENDER = "bench@sender.example";
/** Limits raised so that the benchmark's own load (many sessions from 127.0.0.1) is not refused;
 * the authentication throttle and bans keep their defaults. */
const BENCH_LIMITS = `
[limits]
max_connections = 20000
max_connections_per_ip = 20000
max_new_connections_per_ip_per_minute = 1000000
max_sessions_per_account = 20000
`;

const log = (s: string) => process.stderr.write(`[bench] ${s}\n`);

function sh(cmd: string, args: string[], timeoutMs: number): Promise<{ code: number; out: string; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? 1 : 0, out: `${stdout}${stderr}`, ms: performance.now() - t0 });
    });
  });
}

/** Runs fn against a fresh `portcullis serve`. Inbound SPF/DKIM/DMARC checks stay on
 * (`mailauth: false` turns them off) and resolve through a local DNS server answering NXDOMAIN. */
export async function withPortcullis<T>(o: { users: string[]; toml?: string; mailauth?: boolean; before?: (s: Setup) => Promise<void> }, fn: (srv: Served, setup: Setup) => Promise<T>): Promise<T> {
  const dns = await startNxDns();
  const toml = `${BENCH_LIMITS}\n[outbound]\ndns_servers = ["${dns.server}"]\n${o.mailauth === false ? "\n[mailauth]\nenabled = false\n" : ""}${o.toml ?? ""}`;
  const setup = await makeSetup({ users: o.users.map((u) => [u, PASSWORD]), overridesToml: toml }).catch(async (e: unknown) => {
    await dns.stop();
    throw e;
  });
  let srv: Served | null = null;
  try {
    if (o.before) await o.before(setup);
    srv = await serve(setup.configFile, { compiled: true, nofile: 65_536 });
    return await fn(srv, setup);
  } finally {
    await srv?.stop();
    await setup.cleanup();
    await dns.stop();
  }
}

async function withDovecot<T>(o: { users: string[]; performance?: boolean; setup: Setup }, fn: (d: DovecotInstance) => Promise<T>): Promise<T> {
  const { readFile } = await import("node:fs/promises");
  const key = await readFile(`${o.setup.dataDir}/tls/key.pem`, "utf8");
  const d = await startDovecot({ users: o.users.map((u) => [u, PASSWORD]), certPem: o.setup.certPem, keyPem: key, performance: o.performance ?? false });
  try {
    return await fn(d);
  } finally {
    await d.stop();
  }
}

// ------------------------------------------------------------------ 1. SMTP acceptance

/** Our timing client: `sessions` sessions each sending `perSession` messages; per-transaction
 * latency is MAIL FROM sent -> final 250 to the end of DATA received. */
export async function smtpTimed(port: number, sessions: number, perSession: number, to: string): Promise<{ ok: number; failed: number; latencies: number[]; seconds: number }> {
  const latencies: number[] = [];
  let ok = 0;
  let failed = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: sessions }, async (_, s) => {
      const w = await Wire.connect({ port });
      try {
        if ((await smtpReply(w)).code !== 220) throw new Error("no greeting");
        w.write("EHLO bench.client\r\n");
        await smtpReply(w);
        for (let i = 0; i < perSession; i++) {
          const body = makeMessage({ from: SENDER, to, id: `t${s}-${i}-${Date.now()}`, size: 10_240 });
          const t = performance.now();
          const r = await smtpSend(w, SENDER, to, body);
          if (r.code === 250) {
            ok++;
            latencies.push(performance.now() - t);
          } else {
            failed++;
            w.write("RSET\r\n");
            await smtpReply(w);
          }
        }
        w.write("QUIT\r\n");
        await smtpReply(w, 5000);
      } finally {
        w.close();
      }
    }),
  );
  return { ok, failed, latencies, seconds: (performance.now() - t0) / 1000 };
}

/** smtp-source with 20 sessions; `reuse` adds -d (several messages per connection), without it
 * every message has its own connection. */
export async function smtpSource(port: number, messages: number, to: string, reuse: boolean): Promise<{ seconds: number; ok: boolean; out: string }> {
  const bin = findProgram("smtp-source")!;
  const r = await sh(bin, [...(reuse ? ["-d"] : []), "-s", "20", "-m", String(messages), "-l", "10240", "-f", SENDER, "-t", to, `127.0.0.1:${port}`], 30 * 60_000);
  return { seconds: r.ms / 1000, ok: r.code === 0 && !/error|fatal/i.test(r.out), out: r.out.slice(0, 500) };
}

export async function scenarioSmtp(scale: Scale, withPeer: boolean): Promise<Row[]> {
  const total = 20 * scale.smtpMessagesPerSession;
  const to = "alice@example.test";
  const rows: Row[] = [];
  const sourceHaveIt = findProgram("smtp-source") !== null;
  type Side = { rateD: number | null; rate: number | null; tRate: number | null; p50: number | null; p99: number | null; stored: number; cpu: number | null; cpuD: number | null };
  const p: Side = { rateD: null, rate: null, tRate: null, p50: null, p99: null, stored: 0, cpu: null, cpuD: null };
  await withPortcullis({ users: [to] }, async (srv) => {
    if (sourceHaveIt) {
      log(`smtp: smtp-source -s 20 -m ${total} -l 10240 against Portcullis`);
      let cpu0 = treeCpuSeconds(srv.pid);
      const r = await smtpSource(srv.ports.smtp!, total, to, false);
      if (!r.ok) log(`smtp-source reported: ${r.out}`);
      p.rate = total / r.seconds;
      p.cpu = ((treeCpuSeconds(srv.pid) - cpu0) * 1000) / total;
      log(`smtp: smtp-source -d -s 20 -m ${total} -l 10240 against Portcullis`);
      cpu0 = treeCpuSeconds(srv.pid);
      const rd = await smtpSource(srv.ports.smtp!, total, to, true);
      if (!rd.ok) log(`smtp-source reported: ${rd.out}`);
      p.rateD = total / rd.seconds;
      p.cpuD = ((treeCpuSeconds(srv.pid) - cpu0) * 1000) / total;
    }
    log(`smtp: timing client, 20 sessions x ${scale.smtpMessagesPerSession}`);
    const t = await smtpTimed(srv.ports.smtp!, 20, scale.smtpMessagesPerSession, to);
    p.tRate = t.ok / t.seconds;
    p.p50 = percentile(t.latencies, 50);
    p.p99 = percentile(t.latencies, 99);
    if (t.failed) log(`smtp: ${t.failed} transactions refused by Portcullis`);
    await new Promise((res) => setTimeout(res, 1000)); // the last audit lines are still in the pipe
    p.stored = srv.count("smtp.received");
  });
  let noAuth: { rate: number; p50: number; p99: number } | null = null;
  await withPortcullis({ users: [to], mailauth: false }, async (srv) => {
    log("smtp: timing client against Portcullis with mailauth.enabled = false");
    const t = await smtpTimed(srv.ports.smtp!, 20, scale.smtpMessagesPerSession, to);
    noAuth = { rate: t.ok / t.seconds, p50: percentile(t.latencies, 50), p99: percentile(t.latencies, 99) };
  });
  const q: Side & { deliveredRate: number | null } = { rateD: null, rate: null, tRate: null, p50: null, p99: null, stored: 0, cpu: null, cpuD: null, deliveredRate: null };
  if (withPeer && postfixAvailable()) {
    const pf = await startPostfix({ users: [to] });
    try {
      // Postfix answers 250 once the message is in its queue; delivery to Maildir follows. Its CPU
      // is counted until every message is in the Maildir (all its processes, reaped ones too).
      const untilDelivered = async (n: number) => {
        const deadline = Date.now() + 10 * 60_000;
        while (pf.delivered() < n && Date.now() < deadline) await new Promise((res) => setTimeout(res, 100));
      };
      log(`smtp: smtp-source -s 20 -m ${total} -l 10240 against Postfix`);
      const t0 = performance.now();
      let cpu0 = treeCpuSeconds(pf.masterPid());
      const r = await smtpSource(pf.port, total, to, false);
      if (!r.ok) log(`smtp-source reported: ${r.out}`);
      q.rate = total / r.seconds;
      await untilDelivered(total);
      q.deliveredRate = pf.delivered() / ((performance.now() - t0) / 1000);
      q.cpu = ((treeCpuSeconds(pf.masterPid()) - cpu0) * 1000) / total;
      log(`smtp: smtp-source -d -s 20 -m ${total} -l 10240 against Postfix`);
      cpu0 = treeCpuSeconds(pf.masterPid());
      const rd = await smtpSource(pf.port, total, to, true);
      if (!rd.ok) log(`smtp-source reported: ${rd.out}`);
      q.rateD = total / rd.seconds;
      await untilDelivered(2 * total);
      q.cpuD = ((treeCpuSeconds(pf.masterPid()) - cpu0) * 1000) / total;
      log("smtp: timing client against Postfix");
      const t = await smtpTimed(pf.port, 20, scale.smtpMessagesPerSession, to);
      q.tRate = t.ok / t.seconds;
      q.p50 = percentile(t.latencies, 50);
      q.p99 = percentile(t.latencies, 99);
    } finally {
      await pf.stop();
    }
  }
  const peerName = "Postfix 3.7 (virtual→Maildir)";
  const expected = (sourceHaveIt ? 2 * total : 0) + 20 * scale.smtpMessagesPerSession;
  const storedNote = p.stored === expected ? `all ${expected} messages received by Portcullis` : `Portcullis logged ${p.stored} smtp.received events for ${expected} messages sent`;
  rows.push({ scenario: "smtp", metric: `smtp-source 20 sessions, ${total}×10KB, connection per message`, unit: "msg/s", portcullis: p.rate, peer: q.rate, peerName, note: `Portcullis 250 = stored in the mailbox, fsynced; Postfix 250 = in its queue; ${storedNote}` });
  rows.push({ scenario: "smtp", metric: "same, until delivered to mailbox", unit: "msg/s", portcullis: p.rate, peer: q.deliveredRate, peerName, note: "Postfix: until every file is in Maildir/new" });
  rows.push({ scenario: "smtp", metric: `smtp-source -d (connections reused), ${total}×10KB`, unit: "msg/s", portcullis: p.rateD, peer: q.rateD, peerName, note: "Postfix figure: accepted into its queue" });
  rows.push({ scenario: "smtp", metric: "server CPU per message, connection per message", unit: "ms", portcullis: p.cpu, peer: q.cpu, peerName, note: "user+system CPU of the server's processes (Postfix: all of them, until delivered to Maildir) / messages: the cost per core" });
  rows.push({ scenario: "smtp", metric: "server CPU per message, connections reused", unit: "ms", portcullis: p.cpuD, peer: q.cpuD, peerName });
  rows.push({ scenario: "smtp", metric: "timing client 20 sessions, rate", unit: "msg/s", portcullis: p.tRate, peer: q.tRate, peerName });
  rows.push({ scenario: "smtp", metric: "per-transaction latency p50", unit: "ms", portcullis: p.p50, peer: q.p50, peerName, note: "MAIL FROM sent → 250 after DATA" });
  rows.push({ scenario: "smtp", metric: "per-transaction latency p99", unit: "ms", portcullis: p.p99, peer: q.p99, peerName });
  const na = noAuth as { rate: number; p50: number; p99: number } | null;
  rows.push({ scenario: "smtp", metric: "timing client, Portcullis without SPF/DKIM/DMARC, rate", unit: "msg/s", portcullis: na?.rate ?? null, peer: q.tRate, peerName, note: "like for like: the private Postfix checks nothing either" });
  rows.push({ scenario: "smtp", metric: "same, latency p50", unit: "ms", portcullis: na?.p50 ?? null, peer: q.p50, peerName });
  rows.push({ scenario: "smtp", metric: "same, latency p99", unit: "ms", portcullis: na?.p99 ?? null, peer: q.p99, peerName });
  return rows;
}

// ------------------------------------------------------------------ IMAP helpers

/** Source address number i: 127.1.x.y, so that concurrent logins come from different clients
 * (Portcullis verifies at most auth.max_concurrent_per_ip = 2 passwords at once per address and
 * refuses the rest, as a throttle). */
export const sourceAddress = (i: number) => `127.1.${Math.floor(i / 250) % 250}.${(i % 250) + 1}`;

async function imapSession(port: number, user: string, tls = false, localAddress?: string): Promise<Wire> {
  const w = await Wire.connect({ port, tls, localAddress });
  const greet = await w.readLine();
  if (!greet?.startsWith("* OK")) throw new Error(`IMAP greeting: ${greet}`);
  const r = await imapLogin(w, user, PASSWORD);
  if (!r.ok) throw new Error(`IMAP LOGIN failed: ${r.status}`);
  return w;
}

const fillBody = (i: number, to = "alice@example.test") => makeMessage({ from: `sender${i % 50}@example.org`, to, id: `fill-${i}`, size: 2048 + (i % 7) * 512 });

async function fillPortcullis(setup: Setup, user: string, count: number): Promise<void> {
  await withStore(setup.dataDir, async (store) => {
    const acct = (await store.getAccount(user))!;
    const inbox = (await store.getMailbox(acct.id, "INBOX"))!;
    for (let i = 0; i < count; i += 200) {
      const n = Math.min(200, count - i);
      await Promise.all(Array.from({ length: n }, (_, k) => store.appendMessage(inbox.id, { body: Buffer.from(fillBody(i + k, user)), flags: (i + k) % 3 ? ["\\Seen"] : [] })));
    }
  });
}

// ------------------------------------------------------------------ 2. IMAP workload mix

async function imapMix(port: number, users: string[], seconds: number): Promise<{ ops: number; p99: number; errors: number; seconds: number; perCommand: string }> {
  const lat: number[] = [];
  const byCmd = new Map<string, number[]>();
  const record = (cmd: string, ms: number) => {
    lat.push(ms);
    const k = cmd.split(" ")[0]!;
    const l = byCmd.get(k) ?? [];
    l.push(ms);
    byCmd.set(k, l);
  };
  let errors = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  await Promise.all(
    users.map(async (user, c) => {
      const w = await imapSession(port, user, true, sourceAddress(c));
      let n = 0;
      const op = async (cmd: string) => {
        const t = performance.now();
        const r = await imapCommand(w, `m${n++}`, cmd);
        record(cmd, performance.now() - t);
        if (!r.ok) errors++;
        return r;
      };
      try {
        while (performance.now() < end) {
          const sel = await op("SELECT INBOX");
          const exists = Number(/\* (\d+) EXISTS/.exec(sel.lines.join("\n"))?.[1] ?? 1);
          const k = 1 + Math.floor(Math.random() * Math.max(1, exists - 50));
          await op(`FETCH ${k}:${k + 49} (FLAGS ENVELOPE)`);
          await op(`FETCH ${k} BODY.PEEK[]`);
          await op(`SEARCH UNSEEN FROM "sender${c}"`);
          await op(`STORE ${k}:${k + 4} +FLAGS (\\Flagged)`);
          const msg = fillBody(100_000 + n, user);
          w.write(`a${n} APPEND INBOX {${Buffer.byteLength(msg)}+}\r\n${msg}\r\n`);
          const t = performance.now();
          const ap = await w.readUntil((l) => l.startsWith(`a${n} `), 60_000);
          record("APPEND", performance.now() - t);
          if (!ap || !ap[ap.length - 1]!.includes("OK")) errors++;
          await op(`STORE ${exists} +FLAGS.SILENT (\\Deleted)`);
          await op("EXPUNGE");
        }
        await imapCommand(w, "z", "LOGOUT", 5000);
      } finally {
        w.close();
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  const perCommand = [...byCmd].map(([k, v]) => `${k} ${percentile(v, 50).toFixed(1)}/${percentile(v, 99).toFixed(0)}`).join(", ");
  return { ops: lat.length / secs, p99: percentile(lat, 99), errors, seconds: secs, perCommand };
}

export async function scenarioImap(scale: Scale, withPeer: boolean): Promise<Row[]> {
  const users = Array.from({ length: scale.imapClients }, (_, i) => `user${i}@example.test`);
  let p: { ops: number; p99: number } | null = null;
  let note = "";
  await withPortcullis({ users, before: async (s) => { for (const u of users) await fillPortcullis(s, u, scale.imapMailbox); } }, async (srv) => {
    if (!srv.ports.imaps) {
      note = "Portcullis has no IMAP listener yet (src/imap/index.ts missing): skipped";
      log(`imap: ${note}`);
      return;
    }
    log(`imap: ${users.length} clients × ${scale.imapSeconds}s mix on ${scale.imapMailbox}-message mailboxes`);
    const r = await imapMix(srv.ports.imaps, users, scale.imapSeconds);
    note = `Portcullis p50/p99 ms per command: ${r.perCommand}${r.errors ? `; ${r.errors} commands failed` : ""}`;
    p = r;
  });
  const rows: Row[] = [];
  const peerRun = async (performanceMode: boolean): Promise<{ ops: number; p99: number; perCommand: string } | null> => {
    if (!withPeer || !dovecotAvailable()) return null;
    const setup = await makeSetup();
    try {
      return await withDovecot({ users, setup, performance: performanceMode }, async (d) => {
        for (const u of users) await d.fill(u, scale.imapMailbox, (i) => fillBody(i, u));
        // Build Dovecot's index once, as a mailbox in use would have it.
        for (const u of users) (await imapSession(d.ports.imaps, u, true)).close();
        log(`imap: same mix against Dovecot${performanceMode ? " (performance mode)" : ""}`);
        return imapMix(d.ports.imaps, users, scale.imapSeconds);
      });
    } finally {
      await setup.cleanup();
    }
  };
  const d1 = await peerRun(false);
  const d2 = await peerRun(true);
  const pp = p as { ops: number; p99: number } | null;
  rows.push({ scenario: "imap", metric: `mix ${users.length} clients, ${scale.imapMailbox} msgs/mailbox, IMAPS`, unit: "ops/s", portcullis: pp?.ops ?? null, peer: d1?.ops ?? null, peerName: "Dovecot 2.3", note });
  rows.push({ scenario: "imap", metric: "mix command latency p99", unit: "ms", portcullis: pp?.p99 ?? null, peer: d1?.p99 ?? null, peerName: "Dovecot 2.3", note: d1 ? `Dovecot p50/p99 ms per command: ${d1.perCommand}` : "" });
  rows.push({ scenario: "imap", metric: `mix ${users.length} clients, IMAPS`, unit: "ops/s", portcullis: pp?.ops ?? null, peer: d2?.ops ?? null, peerName: "Dovecot 2.3 performance mode" });
  rows.push({ scenario: "imap", metric: "mix command latency p99", unit: "ms", portcullis: pp?.p99 ?? null, peer: d2?.p99 ?? null, peerName: "Dovecot 2.3 performance mode" });
  return rows;
}

// ------------------------------------------------------------------ 3. Idle connections

/** Opens `n` IMAP connections, logs in, SELECTs INBOX and enters IDLE; returns them. */
async function openIdle(port: number, users: string[], n: number, tls: boolean): Promise<Wire[]> {
  const out: Wire[] = [];
  for (let i = 0; i < n; i += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, n - i) }, async (_, k) => {
        const w = await imapSession(port, users[(i + k) % users.length]!, tls, sourceAddress(i + k));
        await imapCommand(w, "s", "SELECT INBOX");
        w.write("i IDLE\r\n");
        const cont = await w.readLine();
        if (!cont?.startsWith("+")) throw new Error(`IDLE refused: ${cont}`);
        return w;
      }),
    );
    out.push(...batch);
  }
  return out;
}

const settle = () => new Promise((r) => setTimeout(r, 2000));

export async function scenarioIdle(scale: Scale, withPeer: boolean): Promise<Row[]> {
  const users = Array.from({ length: 10 }, (_, i) => `idle${i}@example.test`);
  const rows: Row[] = [];
  for (const n of scale.idleCounts) {
    for (const tls of [false, true]) {
      let p: number | null = null;
      let note = "";
      // Plain rows: LOGIN without TLS is refused by default; allowed here on the loopback listener.
      await withPortcullis({ users, toml: "\n[listeners.imap]\nallow_insecure_auth = true\n" }, async (srv) => {
        const port = tls ? srv.ports.imaps : srv.ports.imap;
        if (!port) {
          note = "Portcullis has no IMAP listener yet: skipped";
          return;
        }
        await settle();
        const before = srv.rss();
        log(`idle: ${n} ${tls ? "TLS" : "plain"} IDLE connections to Portcullis`);
        const t0 = performance.now();
        const conns = await openIdle(port, users, n, tls);
        note = `Portcullis: ${n} connect+LOGIN+SELECT+IDLE took ${((performance.now() - t0) / 1000).toFixed(1)} s`;
        await settle();
        p = (srv.rss() - before) / n;
        for (const c of conns) c.close();
      }).catch((e: Error) => {
        note = `failed: ${e.message.split("\n")[0]}`;
      });
      for (const perf of [false, true]) {
        let d: number | null = null;
        let dnote = "";
        if (withPeer && dovecotAvailable()) {
          const setup = await makeSetup();
          try {
            await withDovecot({ users, setup, performance: perf }, async (dv) => {
              for (const u of users) await dv.fill(u, 10, (i) => fillBody(i, u));
              await settle();
              const before = dv.memory();
              log(`idle: ${n} ${tls ? "TLS" : "plain"} IDLE connections to Dovecot${perf ? " (performance mode)" : ""}`);
              const t0 = performance.now();
              const conns = await openIdle(tls ? dv.ports.imaps : dv.ports.imap, users, n, tls);
              const took = (performance.now() - t0) / 1000;
              await settle();
              const after = dv.memory();
              d = (after.pss - before.pss) / n;
              dnote = `Dovecot: opening took ${took.toFixed(1)} s; PSS summed over ${after.processes} processes (RSS sum ${((after.rss - before.rss) / n / 1024).toFixed(0)} KiB/conn)`;
              for (const c of conns) c.close();
            });
          } catch (e) {
            dnote = `failed: ${(e as Error).message.split("\n")[0]}`;
          } finally {
            await setup.cleanup();
          }
        }
        rows.push({ scenario: "idle", metric: `${n} IDLE ${tls ? "TLS" : "plain"}, memory per connection`, unit: "KiB", portcullis: p === null ? null : p / 1024, peer: d === null ? null : (d as number) / 1024, peerName: `Dovecot 2.3${perf ? " performance mode" : ""}`, note: [note, dnote].filter(Boolean).join("; ") });
      }
    }
  }
  return rows;
}

// ------------------------------------------------------------------ 4. Large mailbox

export async function scenarioLarge(scale: Scale, withPeer: boolean): Promise<Row[]> {
  const user = "big@example.test";
  const pop3User = "pop@example.test";
  const rows: Row[] = [];
  const res: Record<string, number | null> = { select: null, fetch: null, popLogin: null, stat: null };
  const cold: Record<string, number | null> = { select: null, fetch: null, popLogin: null };
  const fmt = (v: number | null | undefined): string => (v === null || v === undefined ? "n/a" : v.toFixed(1));
  let note = "";
  log(`large: filling Portcullis with ${scale.largeImap} + ${scale.largePop3} messages through the Store`);
  await withPortcullis(
    { users: [user, pop3User], before: async (s) => { await fillPortcullis(s, user, scale.largeImap); await fillPortcullis(s, pop3User, scale.largePop3); } },
    async (srv) => {
      // Two rounds each, like the Dovecot leg below: the first (cold: the server's first listing
      // of the mailbox, code not yet optimised by the JIT) goes to the notes, the second is reported.
      for (const round of ["cold", "warm"]) {
        // POP3 STAT on the large maildrop, over TLS (pop3s).
        const w = await Wire.connect({ port: srv.ports.pop3s!, tls: true });
        try {
          await w.readLine();
          let t = performance.now();
          if (!(await pop3Login(w, pop3User, PASSWORD, 300_000))) throw new Error("POP3 login failed");
          res.popLogin = performance.now() - t;
          t = performance.now();
          w.write("STAT\r\n");
          const stat = await w.readLine(300_000);
          res.stat = performance.now() - t;
          if (!stat?.startsWith(`+OK ${scale.largePop3} `)) note += `Portcullis STAT said ${stat}; `;
          w.write("QUIT\r\n");
          await w.readLine(30_000); // the maildrop lock is released before the next round logs in
        } finally {
          w.close();
        }
        if (round === "cold") cold.popLogin = res.popLogin;
        if (!srv.ports.imaps) continue;
        const i = await imapSession(srv.ports.imaps, user, true);
        try {
          let t = performance.now();
          await imapCommand(i, "s", "SELECT INBOX", 300_000);
          res.select = performance.now() - t;
          t = performance.now();
          await imapCommand(i, "f", "UID FETCH 1:* (FLAGS)", 300_000);
          res.fetch = performance.now() - t;
        } finally {
          i.close();
        }
        if (round === "cold") {
          cold.select = res.select;
          cold.fetch = res.fetch;
        }
      }
      if (!srv.ports.imaps) note += "no IMAP listener in Portcullis yet";
    },
  );
  const coldNote = `Portcullis cold (first round): SELECT ${fmt(cold.select)} ms, UID FETCH ${fmt(cold.fetch)} ms, POP3 login ${fmt(cold.popLogin)} ms; `;
  const d: Record<string, number | null> = { selectCold: null, select: null, fetch: null, popLogin: null, stat: null };
  if (withPeer && dovecotAvailable()) {
    const setup = await makeSetup();
    try {
      await withDovecot({ users: [user, pop3User], setup, performance: true }, async (dv) => {
        log(`large: filling Dovecot Maildirs with ${scale.largeImap} + ${scale.largePop3} messages`);
        await dv.fill(user, scale.largeImap, (i) => fillBody(i, user));
        await dv.fill(pop3User, scale.largePop3, (i) => fillBody(i, pop3User));
        for (const round of ["cold", "warm"]) {
          const i = await imapSession(dv.ports.imaps, user, true);
          try {
            let t = performance.now();
            await imapCommand(i, "s", "SELECT INBOX", 600_000);
            if (round === "cold") d.selectCold = performance.now() - t;
            else d.select = performance.now() - t;
            t = performance.now();
            await imapCommand(i, "f", "UID FETCH 1:* (FLAGS)", 600_000);
            if (round === "warm") d.fetch = performance.now() - t;
          } finally {
            i.close();
          }
        }
        for (let round = 0; round < 2; round++) {
          const w = await Wire.connect({ port: dv.ports.pops, tls: true });
          try {
            await w.readLine();
            let t = performance.now();
            await pop3Login(w, pop3User, PASSWORD, 600_000);
            d.popLogin = performance.now() - t;
            t = performance.now();
            w.write("STAT\r\n");
            await w.readLine(600_000);
            d.stat = performance.now() - t;
            w.write("QUIT\r\n");
          } finally {
            w.close();
          }
        }
      });
    } finally {
      await setup.cleanup();
    }
  }
  const peerName = "Dovecot 2.3 performance mode (index warm; Portcullis second round)";
  rows.push({ scenario: "large", metric: `IMAP SELECT, ${scale.largeImap} msgs`, unit: "ms", portcullis: res.select ?? null, peer: d.select ?? null, peerName, note: `${note}${coldNote}${d.selectCold !== null ? `Dovecot cold (index build) ${d.selectCold.toFixed(0)} ms` : ""}` });
  rows.push({ scenario: "large", metric: `IMAP UID FETCH 1:* (FLAGS), ${scale.largeImap} msgs`, unit: "ms", portcullis: res.fetch ?? null, peer: d.fetch ?? null, peerName });
  rows.push({ scenario: "large", metric: `POP3 USER+PASS (maildrop load), ${scale.largePop3} msgs`, unit: "ms", portcullis: res.popLogin ?? null, peer: d.popLogin ?? null, peerName });
  rows.push({ scenario: "large", metric: `POP3 STAT, ${scale.largePop3} msgs`, unit: "ms", portcullis: res.stat ?? null, peer: d.stat ?? null, peerName });
  return rows;
}

// ------------------------------------------------------------------ 5. Login under attack

interface AttackResult {
  /** Legit logins under attack from another /24 (127.9.0.1). */
  otherP50: number;
  otherP99: number;
  baseP50: number;
  baseP99: number;
  p50: number;
  p99: number;
  legitFailures: number;
  attempts: number;
  refused: number;
  /** The distinct error replies the attacker saw (first few). */
  replies: string[];
}

/** One legitimate POP3S login: connect + TLS + greeting + USER/PASS; returns ms or -1. */
async function legitLogin(port: number, user: string, localAddress: string): Promise<number> {
  const t = performance.now();
  try {
    const w = await Wire.connect({ port, tls: true, localAddress });
    try {
      const g = await w.readLine();
      if (!g?.startsWith("+OK")) return -1;
      const ok = await pop3Login(w, user, PASSWORD);
      w.write("QUIT\r\n");
      return ok ? performance.now() - t : -1;
    } finally {
      w.close();
    }
  } catch {
    return -1;
  }
}

async function attack(port: number, user: string, seconds: number): Promise<AttackResult> {
  const legit = async (until: number, from = "127.0.0.1") => {
    const lat: number[] = [];
    let fails = 0;
    while (performance.now() < until) {
      const ms = await legitLogin(port, user, from);
      if (ms < 0) fails++;
      else lat.push(ms);
    }
    return { lat, fails };
  };
  const base = await legit(performance.now() + (seconds * 1000) / 2);
  // The attacker runs in its own process (bench/attacker.ts) so that its work does not slow the
  // legitimate client's measurements here.
  const child = spawn(process.execPath, ["--import", import.meta.resolve("tsx"), fileURLToPath(new URL("./attacker.ts", import.meta.url)), String(port), user, "8"], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  await new Promise((r) => setTimeout(r, 1500)); // tsx start-up, then the attack is under way
  const under = await legit(performance.now() + (seconds * 1000) / 2);
  // The same user from another /24 (the attacker's network is throttled as a whole).
  const other = await legit(performance.now() + (seconds * 1000) / 2, "127.9.0.1");
  child.kill("SIGTERM");
  const t = setTimeout(() => child.kill("SIGKILL"), 30_000);
  await exited;
  clearTimeout(t);
  const a = (() => {
    try {
      return JSON.parse(out) as { attempts: number; refused: number; replies: string[] };
    } catch {
      return { attempts: -1, refused: -1, replies: [`attacker output: ${out.slice(0, 100)}`] };
    }
  })();
  const { attempts, refused } = a;
  const replies = new Set(a.replies);
  return {
    baseP50: percentile(base.lat, 50),
    baseP99: percentile(base.lat, 99),
    p50: percentile(under.lat, 50),
    p99: percentile(under.lat, 99),
    otherP50: percentile(other.lat, 50),
    otherP99: percentile(other.lat, 99),
    legitFailures: under.fails + base.fails + other.fails,
    attempts,
    refused,
    replies: [...replies],
  };
}

export async function scenarioAttack(scale: Scale, withPeer: boolean): Promise<Row[]> {
  const user = "victim@example.test";
  let p: AttackResult | null = null;
  let bans = 0;
  let pnote = "";
  await withPortcullis({ users: [user], toml: "\n[auth]\nnever_ban = []\n" }, async (srv) => {
    log(`attack: legit POP3S logins for ${scale.attackSeconds}s while 127.0.0.2 hammers (Portcullis)`);
    p = await attack(srv.ports.pop3s!, user, scale.attackSeconds);
    bans = srv.count("ban.added");
    pnote = `${bans} ban(s) added`;
  });
  let d: AttackResult | null = null;
  if (withPeer && dovecotAvailable()) {
    const setup = await makeSetup();
    try {
      await withDovecot({ users: [user], setup, performance: true }, async (dv) => {
        log(`attack: same against Dovecot`);
        d = await attack(dv.ports.pops, user, scale.attackSeconds);
      });
    } finally {
      await setup.cleanup();
    }
  }
  const pp = p as AttackResult | null;
  const dd = d as AttackResult | null;
  const peerName = "Dovecot 2.3 performance mode";
  const describe = (r: AttackResult | null) => (r ? `${r.attempts} wrong passwords tried, ${r.refused} attacker connections refused, ${r.legitFailures} legit logins failed, attacker saw ${JSON.stringify(r.replies)}` : "");
  return [
    { scenario: "attack", metric: "legit POP3S login p50, no attack", unit: "ms", portcullis: pp?.baseP50 ?? null, peer: dd?.baseP50 ?? null, peerName },
    { scenario: "attack", metric: "legit POP3S login p99, no attack", unit: "ms", portcullis: pp?.baseP99 ?? null, peer: dd?.baseP99 ?? null, peerName },
    { scenario: "attack", metric: "legit POP3S login p50, under attack", unit: "ms", portcullis: pp?.p50 ?? null, peer: dd?.p50 ?? null, peerName },
    { scenario: "attack", metric: "legit POP3S login p99, under attack", unit: "ms", portcullis: pp?.p99 ?? null, peer: dd?.p99 ?? null, peerName, note: `legit from 127.0.0.1, the attacker's /24. Portcullis: ${describe(pp)}, ${pnote}; Dovecot: ${describe(dd)}` },
    { scenario: "attack", metric: "legit from another /24 (127.9.0.1), p50, under attack", unit: "ms", portcullis: pp?.otherP50 ?? null, peer: dd?.otherP50 ?? null, peerName },
    { scenario: "attack", metric: "legit from another /24 (127.9.0.1), p99, under attack", unit: "ms", portcullis: pp?.otherP99 ?? null, peer: dd?.otherP99 ?? null, peerName },
  ];
}
