// Configuration errors and file permissions as an operator meets them: through `portcullis check`
// and `portcullis serve`, each naming the file, the key or the fix.

import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { mkdir, writeFile, chmod } from "node:fs/promises";
import { runCli, withTempDir } from "./helpers/cli.js";

async function setup(tmp: string): Promise<{ data: string; file: string; dropins: string }> {
  const data = join(tmp, "data");
  const r = await runCli(["init", "--data", data, "--domain", "example.org", "--port-base", "30000"]);
  assert.equal(r.code, 0, r.stderr);
  const dropins = join(data, "portcullis.d");
  await mkdir(dropins, { mode: 0o700 });
  return { data, file: join(data, "portcullis.toml"), dropins };
}

test("config errors stop check and serve, naming the file that set the key, the key and what is allowed", async () => {
  await withTempDir(async (tmp) => {
    const { file, dropins } = await setup(tmp);
    const ok = await runCli(["check", "--config", file]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.equal(ok.stdout, `configuration: ok (${file})\npermissions: ok\n`);

    // Unknown key in a drop-in.
    const x = join(dropins, "10-x.toml");
    await writeFile(x, "[listeners.smtp]\nfoo = 1\n", { mode: 0o600 });
    let r = await runCli(["check", "--config", file]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, new RegExp(`^configuration: 1 problem\\(s\\)\\n  unknown key listeners\\.smtp\\.foo in ${x.replace(/\./g, "\\.")} \\(allowed here: protocol, smtp_role, port, addresses, tls, proxy_protocol, allow_insecure_auth, enabled\\)\\n$`));
    const serve = await runCli(["serve", "--config", file]);
    assert.equal(serve.code, 1);
    assert.equal(serve.stdout, "");
    assert.match(serve.stderr, new RegExp(`^portcullis: configuration error:\\n  unknown key listeners\\.smtp\\.foo in ${x.replace(/\./g, "\\.")} `));

    // Wrong type and bad duration, set by two different drop-ins.
    await writeFile(x, '[limits]\nmax_connections = "lots"\n', { mode: 0o600 });
    const y = join(dropins, "20-y.toml");
    await writeFile(y, '[server]\nshutdown_timeout = "soon"\n', { mode: 0o600 });
    r = await runCli(["check", "--config", file]);
    assert.equal(r.code, 1);
    assert.equal(
      r.stdout,
      "configuration: 2 problem(s)\n" +
        `  server.shutdown_timeout in ${y}: not a duration: "soon" (use e.g. "30s", "5m", "1h", "5d")\n` +
        `  limits.max_connections in ${x}: Invalid input: expected number, received string\n`,
    );

    // A syntax error names the file and the line.
    await writeFile(y, "[server]\nshutdown_timeout = 5\nhostname = \n", { mode: 0o600 });
    r = await runCli(["check", "--config", file]);
    assert.equal(r.code, 1);
    assert.ok(r.stdout.startsWith(`configuration: 1 problem(s)\n  ${y}:3:`), r.stdout);
  });
});

test("drop-ins merge in file-name order: the later file wins", async () => {
  await withTempDir(async (tmp) => {
    const { file, dropins } = await setup(tmp);
    // 10 sets a bad value that 20 replaces: valid.
    await writeFile(join(dropins, "20-fix.toml"), "[limits]\nmax_connections = 100\n", { mode: 0o600 });
    await writeFile(join(dropins, "10-bad.toml"), '[limits]\nmax_connections = "lots"\n', { mode: 0o600 });
    let r = await runCli(["check", "--config", file]);
    assert.equal(r.code, 0, r.stdout);
    assert.equal(r.stdout.split("\n")[0], `configuration: ok (${file}, ${join(dropins, "10-bad.toml")}, ${join(dropins, "20-fix.toml")})`);
    // Renamed so that the bad one comes last: invalid, and the error names the later file.
    await writeFile(join(dropins, "10-bad.toml"), "[limits]\nmax_connections = 100\n", { mode: 0o600 });
    await writeFile(join(dropins, "20-fix.toml"), '[limits]\nmax_connections = "lots"\n', { mode: 0o600 });
    r = await runCli(["check", "--config", file]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, new RegExp(`limits\\.max_connections in ${join(dropins, "20-fix.toml").replace(/\./g, "\\.")}: `));
  });
});

test("insecure settings are reported by check as warnings", async () => {
  await withTempDir(async (tmp) => {
    const { file, dropins } = await setup(tmp);
    await writeFile(join(dropins, "50-office.toml"), '[auth]\nnever_ban = ["192.0.2.0/24"]\n', { mode: 0o600 });
    const r = await runCli(["check", "--config", file]);
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /^  warning \(weakens security\): auth\.never_ban: 192\.0\.2\.0\/24 are never banned$/m);
  });
});

test("files open to others: check and serve refuse, naming each file and the chmod that fixes it", async () => {
  await withTempDir(async (tmp) => {
    const { data, file } = await setup(tmp);
    const key = join(data, "tls", "key.pem");
    const dkim = join(data, "dkim", "example.org.portcullis.pem");
    await chmod(key, 0o644);
    await chmod(dkim, 0o640);
    await chmod(data, 0o755);

    const r = await runCli(["check", "--config", file]);
    assert.equal(r.code, 1);
    assert.equal(
      r.stdout,
      `configuration: ok (${file})\n` +
        "permissions: 3 problem(s)\n" +
        `  ${data}: data directory is accessible to group and others (mode 0755)\n      fix: chmod 700 ${data}\n` +
        `  ${key}: private key is accessible to group and others (mode 0644)\n      fix: chmod 600 ${key}\n` +
        `  ${dkim}: private key is accessible to group (mode 0640)\n      fix: chmod 600 ${dkim}\n`,
    );

    const s = await runCli(["serve", "--config", file]);
    assert.equal(s.code, 1);
    assert.equal(s.stdout, "", "nothing started, nothing logged");
    assert.equal(
      s.stderr,
      "portcullis: refusing to start: files are open to other users or missing\n" +
        `${data}: data directory is accessible to group and others (mode 0755)\n    fix: chmod 700 ${data}\n` +
        `${key}: private key is accessible to group and others (mode 0644)\n    fix: chmod 600 ${key}\n` +
        `${dkim}: private key is accessible to group (mode 0640)\n    fix: chmod 600 ${dkim}\n`,
    );

    // Only the key left: one problem.
    await chmod(data, 0o700);
    await chmod(dkim, 0o600);
    const one = await runCli(["serve", "--config", file]);
    assert.equal(one.code, 1);
    assert.equal(one.stderr, `portcullis: refusing to start: a file is open to other users or missing\n${key}: private key is accessible to group and others (mode 0644)\n    fix: chmod 600 ${key}\n`);
  });
});

test("check --store verifies the store and names a missing message file (a large body, kept in a file)", async () => {
  await withTempDir(async (tmp) => {
    const { data, file } = await setup(tmp);
    const { openStore } = await import("../src/store/index.js");
    const store = await openStore(data);
    try {
      const a = await store.createAccount("alice@example.org");
      const inbox = await store.getMailbox(a.id, "INBOX");
      // Over the store's 128 KiB inline limit: this body has a file of its own.
      await store.appendMessage(inbox!.id, { body: Buffer.from(`Subject: hi\r\n\r\n${"hello there\r\n".repeat(20_000)}`) });
    } finally {
      await store.close();
    }
    let r = await runCli(["check", "--store", "--config", file]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^store: ok \(1 messages, 1 message bodies\)$/m);

    // Remove the body file behind the store's back.
    const { readdir, unlink } = await import("node:fs/promises");
    const files = (await readdir(join(data, "store"), { recursive: true, withFileTypes: true }))
      .filter((d) => d.isFile() && !/\.db(-wal|-shm)?$|\.lock$/.test(d.name))
      .map((d) => join(d.parentPath, d.name));
    assert.equal(files.length, 1, files.join(", "));
    await unlink(files[0]!);
    r = await runCli(["check", "--store", "--config", file]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^store: \d+ problem\(s\) \(1 messages, \d message bodies\)\n  .+file is missing/m);
  });
});
