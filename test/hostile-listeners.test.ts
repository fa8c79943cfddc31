// Reliability battery, hostile input (issue 8): every listener of a real server gets over-long
// lines, NUL bytes, invalid UTF-8, bare CR/LF, HTTP, TLS where it is not expected and garbage
// where TLS is, pipelined junk, slow-drip writes, early talkers and (IMAP) huge or unterminated
// literals. Each probe must end in the protocol's error or a close; meanwhile a legitimate user
// on another loopback address (127.0.0.3) keeps being served, and the server's memory stays
// bounded. IMAP listeners are probed when the IMAP module is present (port != 0).

import { test } from "node:test";
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { probeTarget, LegitClient, type Target, type ProbeResult } from "./fixtures/hostile-probes.js";
import { percentile } from "../bench/lib/wire.js";

const PASSWORD = "Legit-user-pass-4471";

function targets(srv: TestServer): Target[] {
  const all: Target[] = [
    { listener: "smtp", proto: "smtp", port: srv.ports.smtp, tls: false },
    { listener: "submission", proto: "smtp", port: srv.ports.submission, tls: false },
    { listener: "submissions", proto: "smtp", port: srv.ports.submissions, tls: true },
    { listener: "pop3", proto: "pop3", port: srv.ports.pop3, tls: false },
    { listener: "pop3s", proto: "pop3", port: srv.ports.pop3s, tls: true },
    { listener: "imap", proto: "imap", port: srv.ports.imap, tls: false },
    { listener: "imaps", proto: "imap", port: srv.ports.imaps, tls: true },
  ];
  return all.filter((t) => t.port !== 0);
}

test("hostile input on every listener: protocol error or close, server stays up, legit user served", { timeout: 120_000 }, async () => {
  const srv = await startTestServer({
    config: {
      // Slow-drip clients are cut off by the per-line deadline; shortened so the test is quick.
      // A client that stops sending (e.g. in the middle of a literal) is closed by the pre-auth
      // timeout; shortened from 60 s for the same reason.
      limits: { command_line_timeout: "3s", preauth_timeout: "8s", max_new_connections_per_ip_per_minute: 100000 },
    },
  });
  try {
    await srv.addUser("legit@example.test", PASSWORD);
    const ts = targets(srv);
    for (const name of ["smtp", "submission", "submissions", "pop3", "pop3s"]) {
      assert.ok(ts.some((t) => t.listener === name), `listener ${name} is open`);
    }
    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    const legit = new LegitClient({
      smtpPort: srv.ports.smtp,
      pop3sPort: srv.ports.pop3s,
      imapsPort: srv.ports.imaps || undefined,
      localAddress: "127.0.0.3",
      user: "legit@example.test",
      password: PASSWORD,
    });
    let results: ProbeResult[] = [];
    let rssPeak = rssBefore;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 200);
    try {
      // Each listener is attacked from its own loopback address (127.0.0.10, .11, ...), so that
      // the per-address connection limit (20) does not refuse the probes before they are read.
      const per = await Promise.all(ts.map((t, i) => probeTarget(t, { deadlineMs: 20_000, dripMs: 250, localAddress: `127.0.0.${10 + i}` })));
      results = per.flat();
    } finally {
      clearInterval(sampler);
      await legit.stop();
    }
    if (process.env.HOSTILE_VERBOSE) for (const r of results) console.log(`${r.target} | ${r.probe} | ${r.outcome} | ${r.detail}`);
    // A probe that could not even connect proves nothing about the parsers.
    const ioErrors = results.filter((r) => r.detail.startsWith("connect/IO error"));
    assert.deepEqual(ioErrors.map((r) => `${r.target} ${r.probe}: ${r.detail}`), [], "every probe reached the server");
    const bad = results.filter((r) => r.outcome === "silent" || r.outcome === "accepted");
    assert.deepEqual(
      bad.map((r) => `${r.target} ${r.probe}: ${r.outcome} ${r.detail}`),
      [],
      "every hostile probe gets the protocol's error or a close",
    );
    assert.ok(results.length >= ts.length * 9, `ran ${results.length} probes`);

    // The legitimate user was served normally throughout.
    assert.deepEqual(legit.failures, [], "the legitimate client never failed");
    assert.ok(legit.latencies.length >= 5, `legitimate client completed ${legit.latencies.length} sessions`);
    const p99 = percentile(legit.latencies, 99);
    assert.ok(p99 < 5_000, `legitimate client p99 ${p99.toFixed(0)} ms (bound 5000 ms)`);

    // Memory stayed bounded (the whole test process: server plus the hostile clients).
    const growth = rssPeak - rssBefore;
    assert.ok(growth < 256 * 1024 * 1024, `RSS grew by ${(growth / 1048576).toFixed(0)} MiB during the attack`);

    // The server is still up and greets a new client on every listener.
    const { Wire } = await import("../bench/lib/wire.js");
    for (const t of ts) {
      const w = await Wire.connect({ port: t.port, tls: t.tls, localAddress: "127.0.0.3" });
      const g = await w.readLine(10_000);
      w.close();
      assert.match(g ?? "", /^(220 |\+OK|\* OK)/, `${t.listener} greets after the attack`);
    }
  } finally {
    await srv.stop();
  }
});
