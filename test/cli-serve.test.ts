// `portcullis serve` and `portcullis quickstart` as real processes: the listeners answer, the logs
// are JSON on stdout, SIGHUP reloads TLS, SIGTERM stops and exits 0, and quickstart prints the demo
// login exactly once.

import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { mkdir, writeFile, stat } from "node:fs/promises";
import net from "node:net";
import tls from "node:tls";
import { readFile } from "node:fs/promises";
import type { ChildProcess } from "node:child_process";
import { runCli, spawnCli, collect, withTempDir } from "./helpers/cli.js";

/** A drop-in putting every listener of `init` on port 0 on loopback (no fixed ports in tests). */
const LOOPBACK_PORT0 = ["smtp", "submission", "submissions", "imap", "imaps", "pop3", "pop3s", "admin"]
  .map((n) => `[listeners.${n}]\nport = 0\naddresses = ["127.0.0.1"]\n`)
  .join("");

/** Reads the child's stdout JSON lines until one matches. */
function waitForLog(child: ChildProcess, match: (l: Record<string, unknown>) => boolean, timeoutMs = 60_000): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let buf = "";
    let err = "";
    const timer = setTimeout(() => reject(new Error(`no matching log line\nstdout: ${buf}\nstderr: ${err}`)), timeoutMs);
    child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
    const onData = (d: Buffer): void => {
      buf += d.toString();
      for (const line of buf.split("\n")) {
        if (!line.startsWith("{")) continue;
        try {
          const l = JSON.parse(line) as Record<string, unknown>;
          if (match(l)) {
            clearTimeout(timer);
            child.stdout!.off("data", onData);
            resolve(l);
            return;
          }
        } catch {
          /* a partial line */
        }
      }
    };
    child.stdout!.on("data", onData);
    child.on("exit", (code) => reject(new Error(`exited ${code} before the log line\nstdout: ${buf}\nstderr: ${err}`)));
  });
}

function greeting(port: number, o: { tls?: { ca: string } } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = o.tls ? tls.connect({ host: "127.0.0.1", port, ca: o.tls.ca, servername: "localhost" }) : net.connect(port, "127.0.0.1");
    sock.setTimeout(10_000, () => reject(new Error("no greeting")));
    sock.once("data", (d: Buffer) => {
      resolve(d.toString());
      sock.destroy();
    });
    sock.once("error", reject);
  });
}

function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve({ code: child.exitCode, signal: child.signalCode });
    else child.on("exit", (code, signal) => resolve({ code, signal }));
  });
}

test("serve: listeners answer, JSON logs on stdout, SIGHUP reloads TLS, SIGTERM exits 0", async () => {
  await withTempDir(async (tmp) => {
    const data = join(tmp, "data");
    assert.equal((await runCli(["init", "--data", data, "--domain", "example.org", "--hostname", "localhost"])).code, 0);
    await mkdir(join(data, "portcullis.d"), { mode: 0o700 });
    await writeFile(join(data, "portcullis.d", "90-test.toml"), LOOPBACK_PORT0 + '[auth]\nnever_ban = ["192.0.2.0/24"]\n', { mode: 0o600 });
    const ca = await readFile(join(data, "tls", "cert.pem"), "utf8");

    const child = spawnCli(["serve", "--config", join(data, "portcullis.toml")]);
    child.stdin!.end();
    const insecure = waitForLog(child, (l) => l.event === "server.config.insecure");
    const started = waitForLog(child, (l) => l.event === "server.start");
    let exited = false;
    child.on("exit", () => (exited = true));
    try {
      const warning = await insecure;
      assert.equal(warning.level, "warn");
      assert.equal(warning.setting, "auth.never_ban: 192.0.2.0/24 are never banned");
      const start = await started;
      assert.equal(start.service, "portcullis");
      assert.equal(start.level, "info");
      const ports = start.ports as Record<string, number>;
      assert.ok(ports.smtp! > 0 && ports.pop3! > 0, JSON.stringify(ports));
      assert.match(await greeting(ports.smtp!), /^220 localhost /);
      assert.match(await greeting(ports.submissions!, { tls: { ca } }), /^220 /);
      assert.match(await greeting(ports.pop3!), /^\+OK/);
      assert.match(await greeting(ports.pop3s!, { tls: { ca } }), /^\+OK/);

      const reloaded = waitForLog(child, (l) => l.event === "tls.reload" && l !== start);
      child.kill("SIGHUP");
      await reloaded;

      const stopped = waitForLog(child, (l) => l.event === "server.stop");
      child.kill("SIGTERM");
      await stopped;
      const { code, signal } = await exitOf(child);
      assert.equal(signal, null);
      assert.equal(code, 0);
    } finally {
      if (!exited) child.kill("SIGKILL");
    }
  });
});

test("quickstart: first run creates the demo setup and prints the login once; later runs do not", async () => {
  await withTempDir(async (cwd) => {
    // Put the ports on 0 before the first run, so the test never collides with a fixed port.
    await mkdir(join(cwd, "data", "portcullis.d"), { recursive: true, mode: 0o700 });
    await writeFile(join(cwd, "data", "portcullis.d", "90-test.toml"), LOOPBACK_PORT0, { mode: 0o600 });

    const first = spawnCli(["quickstart"], { cwd });
    const firstOut = collect(first);
    try {
      await waitForLog(first, (l) => l.event === "server.start");
    } finally {
      first.kill("SIGTERM");
    }
    const r1 = await firstOut;
    assert.equal(r1.code, 0, r1.stderr);
    const m = /^Demo login: demo@localhost \/ (\S+)$/m.exec(r1.stdout);
    assert.ok(m, r1.stdout);
    assert.ok(m[1]!.length >= 16);
    assert.equal(r1.stdout.split(m[1]!).length - 1, 1, "the password appears exactly once");
    assert.match(r1.stdout, /^SMTP \(MX\) localhost:10025  submission: 10587 \(STARTTLS\), 10465 \(TLS\)$/m);
    assert.match(r1.stdout, /^IMAP +localhost:10143 \(STARTTLS\), 10993 \(TLS\)$/m);
    assert.equal(((await stat(join(cwd, "data"))).mode & 0o777).toString(8), "700");
    const users = await runCli(["user", "list"], { cwd });
    assert.match(users.stdout, /^demo@localhost +active /m);

    const second = spawnCli(["quickstart"], { cwd });
    const secondOut = collect(second);
    try {
      await waitForLog(second, (l) => l.event === "server.start");
    } finally {
      second.kill("SIGTERM");
    }
    const r2 = await secondOut;
    assert.equal(r2.code, 0, r2.stderr);
    assert.doesNotMatch(r2.stdout, /Demo login/);
    assert.ok(!r2.stdout.includes(m[1]!), "the password is not shown again");
    assert.match(r2.stdout, /^Using the existing setup .*portcullis\.toml/m);
  });
});
