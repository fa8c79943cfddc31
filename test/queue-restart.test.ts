// End to end, the queue survives a crash (issue 7): a real `portcullis serve` process accepts
// mail for a destination that is down, is killed with SIGKILL while the messages wait for a
// retry, and after a restart delivers each of them to Postfix's smtp-sink. `portcullis queue
// list|show|retry|delete` are driven as an operator would, between the two runs.

import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { mkdir, writeFile, readFile } from "node:fs/promises";
import type { ChildProcess } from "node:child_process";
import { runCli, spawnCli, withTempDir } from "./helpers/cli.js";
import { freePort, startSink, submit, until } from "./fixtures/queue-peers.js";

const LOOPBACK_PORT0 = ["smtp", "submission", "submissions", "imap", "imaps", "pop3", "pop3s", "admin"]
  .map((n) => `[listeners.${n}]\nport = 0\naddresses = ["127.0.0.1"]\n`)
  .join("");

interface Serve {
  child: ChildProcess;
  lines: Array<Record<string, unknown>>;
  stderr: () => string;
}

function serve(config: string): Serve {
  const child = spawnCli(["serve", "--config", config]);
  child.stdin!.end();
  const lines: Array<Record<string, unknown>> = [];
  let buf = "";
  let err = "";
  child.stdout!.on("data", (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split("\n");
    buf = parts.pop() ?? "";
    for (const p of parts) {
      try {
        lines.push(JSON.parse(p) as Record<string, unknown>);
      } catch {
        /* not JSON */
      }
    }
  });
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  return { child, lines, stderr: () => err };
}

const exited = (c: ChildProcess): Promise<void> =>
  c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise((r) => c.once("exit", () => r()));

test("queued messages survive kill -9 of `portcullis serve` and are delivered after the restart", async () => {
  await withTempDir(async (tmp) => {
    const data = join(tmp, "data");
    const config = join(data, "portcullis.toml");
    assert.equal((await runCli(["init", "--data", data, "--domain", "example.org", "--hostname", "localhost"])).code, 0);
    const destPort = await freePort(); // nothing listens there during the first run
    await mkdir(join(data, "portcullis.d"), { mode: 0o700 });
    await writeFile(
      join(data, "portcullis.d", "90-test.toml"),
      `${LOOPBACK_PORT0}[outbound]\nretry_initial = "1s"\nretry_max = "2s"\n[outbound.routes]\n"remote.test" = "127.0.0.1:${destPort}"\n"dropped.test" = "127.0.0.1:${destPort}"\n`,
      { mode: 0o600 },
    );
    const pw = "alice-pass-0e7b4d9a";
    const add = await runCli(["user", "add", "alice@example.org", "--password-stdin", "--config", config], { input: `${pw}\n` });
    assert.equal(add.code, 0, add.stderr);
    const caCert = await readFile(join(data, "tls", "cert.pem"), "utf8");

    // First run: accept the mail, fail to deliver it, get killed.
    const first = serve(config);
    let sink: Awaited<ReturnType<typeof startSink>> | null = null;
    let second: Serve | null = null;
    try {
      const start = await until("server.start", () => first.lines.find((l) => l.event === "server.start"), 60_000);
      const ports = start.ports as Record<string, number>;
      const srv = { ports: { submission: ports.submission! } as never, caCert };
      for (const n of [1, 2, 3]) await submit(srv, "alice@example.org", pw, { to: `r${n}@remote.test`, subject: `Survivor ${n}`, text: `message ${n}\n` });
      await submit(srv, "alice@example.org", pw, { to: "x@dropped.test", subject: "Dropped", text: "deleted by the operator\n" });
      await until("deferrals", () => first.lines.filter((l) => l.event === "queue.deferred").length >= 4 || null, 30_000);
      first.child.kill("SIGKILL");
      await exited(first.child);
      assert.equal(first.child.signalCode, "SIGKILL");

      // Between runs: the queue is on disk, and the operator can inspect and change it.
      const list = await runCli(["queue", "list", "--config", config]);
      assert.equal(list.code, 0, list.stderr);
      assert.match(list.stdout, /4 message\(s\)/);
      assert.equal((list.stdout.match(/remote\.test/g) ?? []).length, 3);
      const dropped = /^([0-9a-f]{16}) .*dropped\.test/m.exec(list.stdout);
      assert.ok(dropped, list.stdout);
      const show = await runCli(["queue", "show", dropped[1]!, "--config", config]);
      assert.equal(show.code, 0, show.stderr);
      assert.match(show.stdout, /^sender: +<alice@example\.org>$/m);
      assert.match(show.stdout, /^ +pending +<x@dropped\.test> /m);
      assert.match(show.stdout, /^attempts: +[1-9]/m);
      const del = await runCli(["queue", "delete", dropped[1]!, "--config", config]);
      assert.equal(del.code, 0, del.stderr);
      assert.equal((await runCli(["queue", "show", dropped[1]!, "--config", config])).code, 1);
      const retry = await runCli(["queue", "retry", "--all", "--config", config]);
      assert.equal(retry.code, 0, retry.stderr);
      assert.match(retry.stdout, /^3 message\(s\) scheduled/m);

      // The destination comes up; the second run delivers everything that was queued.
      sink = await startSink({ port: destPort });
      second = serve(config);
      const s2 = second;
      await until("three deliveries", () => s2.lines.filter((l) => l.event === "queue.delivered").length >= 3 || null, 60_000);
      const messages = await sink.messages();
      const subjects = messages.map((m) => /^Subject: (.*)$/m.exec(m)?.[1]).sort();
      assert.deepEqual(subjects, ["Survivor 1", "Survivor 2", "Survivor 3"]);
      const after = await until("an empty queue", async () => {
        const l = await runCli(["queue", "list", "--config", config]);
        return /queue is empty/.test(l.stdout) ? l : null;
      });
      assert.equal(after.code, 0);
    } finally {
      if (first.child.exitCode === null && first.child.signalCode === null) first.child.kill("SIGKILL");
      if (second) {
        second.child.kill("SIGTERM");
        await exited(second.child);
      }
      await sink?.stop();
    }
  });
});
