// Reliability battery, floods (issue 8): 200 simultaneous connections from one address
// (127.0.0.2) to every listener, and 16 MiB without a line end sent to every listener from
// another (127.0.0.4). Pass: the per-address connection limit refuses the excess (with the
// protocol's error or a close), the flooded connections end in an error or a close, the server's
// memory stays bounded, and a legitimate user on 127.0.0.3 is served normally throughout.

import { test } from "node:test";
import assert from "node:assert/strict";
import { startTestServer } from "./helpers/server.js";
import { LegitClient, judge, type Proto } from "./fixtures/hostile-probes.js";
import { Wire, percentile } from "../bench/lib/wire.js";

const PASSWORD = "Legit-user-pass-4471";

test("200 connections from one address and 16 MiB floods: limits hold, memory bounded, legit user served", { timeout: 120_000 }, async () => {
  const srv = await startTestServer({ config: { limits: { max_new_connections_per_ip_per_minute: 100000 } } });
  try {
    await srv.addUser("legit@example.test", PASSWORD);
    const perIp = srv.config.limits.max_connections_per_ip;
    const listeners: Array<{ name: string; proto: Proto; port: number; tls: boolean }> = [
      { name: "smtp", proto: "smtp" as const, port: srv.ports.smtp, tls: false },
      { name: "submissions", proto: "smtp" as const, port: srv.ports.submissions, tls: true },
      { name: "pop3", proto: "pop3" as const, port: srv.ports.pop3, tls: false },
      { name: "pop3s", proto: "pop3" as const, port: srv.ports.pop3s, tls: true },
      { name: "imap", proto: "imap" as const, port: srv.ports.imap, tls: false },
      { name: "imaps", proto: "imap" as const, port: srv.ports.imaps, tls: true },
    ].filter((l) => l.port !== 0);

    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 100);
    const legit = new LegitClient({ smtpPort: srv.ports.smtp, pop3sPort: srv.ports.pop3s, imapsPort: srv.ports.imaps || undefined, localAddress: "127.0.0.3", user: "legit@example.test", password: PASSWORD });
    try {
      // 1. 200 connections at once from 127.0.0.2 to each listener in turn.
      for (const l of listeners) {
        const outcomes = await Promise.all(
          Array.from({ length: 200 }, async () => {
            let w: Wire;
            try {
              w = await Wire.connect({ port: l.port, tls: l.tls, localAddress: "127.0.0.2", connectTimeoutMs: 20_000 });
            } catch {
              return { greeted: false, w: null };
            }
            const g = await w.readLine(20_000);
            return { greeted: g !== null && /^(220[ -]|\+OK|\* OK)/.test(g), w };
          }),
        );
        const greeted = outcomes.filter((o) => o.greeted).length;
        for (const o of outcomes) o.w?.close();
        assert.ok(greeted <= perIp, `${l.name}: ${greeted} of 200 connections from one address were served (limit ${perIp})`);
        assert.ok(greeted >= 1, `${l.name}: the address still gets up to its limit (${greeted})`);
        // Let the server notice the closes before the next listener's burst.
        await new Promise((r) => setTimeout(r, 300));
      }

      // 2. 16 MiB without a line end to every listener, all at once, from 127.0.0.4.
      const chunk = Buffer.alloc(64 * 1024, 0x41);
      const floods = await Promise.all(
        listeners.map(async (l) => {
          const w = await Wire.connect({ port: l.port, tls: l.tls, localAddress: "127.0.0.4" });
          try {
            await w.readLine(10_000);
            for (let sent = 0; sent < 16 * 1024 * 1024 && !w.ended; sent += chunk.length) await w.writeAsync(chunk);
            return { name: l.name, ...(await judge(w, l.proto, 20_000)) };
          } finally {
            w.close();
          }
        }),
      );
      for (const f of floods) assert.ok(f.outcome === "error" || f.outcome === "closed", `${f.name} flood: ${f.outcome} ${f.detail}`);
    } finally {
      clearInterval(sampler);
      await legit.stop();
    }
    assert.deepEqual(legit.failures, [], "the legitimate client never failed");
    assert.ok(legit.latencies.length >= 3, `legitimate client completed ${legit.latencies.length} sessions`);
    const p99 = percentile(legit.latencies, 99);
    assert.ok(p99 < 5_000, `legitimate client p99 ${p99.toFixed(0)} ms (bound 5000 ms)`);
    const growth = rssPeak - rssBefore;
    assert.ok(growth < 256 * 1024 * 1024, `RSS grew by ${(growth / 1048576).toFixed(0)} MiB (bound 256 MiB; 6 × 16 MiB were sent)`);
  } finally {
    await srv.stop();
  }
});
