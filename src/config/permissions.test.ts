// Unit tests of the file-permission check: each problem names the file and the exact fix.

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, writeFile, mkdir, rm, chmod } from "node:fs/promises";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { checkPermissions, formatProblems, keyFiles, shellQuote } from "./permissions.js";
import { loadConfig } from "./load.js";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "portcullis-perm-"));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test("a private setup has no problems", async () => {
  await withDir(async (dir) => {
    await writeFile(join(dir, "portcullis.toml"), "", { mode: 0o600 });
    await writeFile(join(dir, "key.pem"), "", { mode: 0o600 });
    assert.deepEqual(await checkPermissions({ dataDir: dir, configFiles: [join(dir, "portcullis.toml")], keys: [join(dir, "key.pem")] }), []);
  });
});

test("group- or other-accessible files and directories are named with the chmod that fixes them", async () => {
  await withDir(async (dir) => {
    const cfg = join(dir, "portcullis.toml");
    const key = join(dir, "key.pem");
    await writeFile(cfg, "", { mode: 0o600 });
    await writeFile(key, "", { mode: 0o600 });
    await chmod(key, 0o644);
    await chmod(cfg, 0o640);
    await chmod(dir, 0o750);
    const problems = await checkPermissions({ dataDir: dir, configFiles: [cfg], keys: [key] });
    assert.deepEqual(problems, [
      { path: dir, problem: "data directory is accessible to group (mode 0750)", fix: `chmod 700 ${dir}` },
      { path: cfg, problem: "configuration file is accessible to group (mode 0640)", fix: `chmod 600 ${cfg}` },
      { path: key, problem: "private key is accessible to group and others (mode 0644)", fix: `chmod 600 ${key}` },
    ]);
    assert.equal(formatProblems(problems.slice(2)), `${key}: private key is accessible to group and others (mode 0644)\n    fix: chmod 600 ${key}`);
    await chmod(dir, 0o700);
  });
});

test("a file owned by someone else is named with the chown that fixes it", async () => {
  await withDir(async (dir) => {
    const key = join(dir, "key.pem");
    await writeFile(key, "", { mode: 0o600 });
    // Pretend to be another user: the file's owner is then not the running user.
    const problems = await checkPermissions({ dataDir: dir, configFiles: [], keys: [key] }, { uid: 4242, user: "mail" });
    assert.equal(problems.length, 2);
    assert.equal(problems[1]!.fix, `chown mail ${key}`);
    assert.match(problems[1]!.problem, /^private key is owned by uid \d+, not by mail \(uid 4242\) who runs Portcullis$/);
    assert.equal(problems[0]!.fix, `chown mail ${dir}`);
  });
});

test("missing files are problems", async () => {
  await withDir(async (dir) => {
    const problems = await checkPermissions({ dataDir: join(dir, "nope"), configFiles: [], keys: [join(dir, "k.pem")] });
    assert.deepEqual(
      problems.map((p) => p.problem),
      ["data directory does not exist", "private key does not exist"],
    );
    assert.equal(problems[0]!.fix, `mkdir -m 700 ${join(dir, "nope")}`);
  });
});

test("paths with spaces are quoted in the fix", async () => {
  await withDir(async (dir) => {
    const sub = join(dir, "my data");
    await mkdir(sub, { mode: 0o755 });
    await chmod(sub, 0o755);
    const problems = await checkPermissions({ dataDir: sub, configFiles: [], keys: [] }, { user: userInfo().username });
    assert.equal(problems[0]!.fix, `chmod 700 '${sub}'`);
    assert.equal(shellQuote("it's"), `'it'\\''s'`);
  });
});

test("the keys to check include TLS, SNI, the remote log's client key and every DKIM key, as absolute paths", async () => {
  await withDir(async (dir) => {
    await mkdir(join(dir, "dkim"), { mode: 0o700 });
    await writeFile(join(dir, "dkim", "example.test.portcullis.pem"), "", { mode: 0o600 });
    await writeFile(
      join(dir, "portcullis.toml"),
      [
        `[server]`,
        `hostname = "mail.example.test"`,
        `[tls]`,
        `cert = "tls/cert.pem"`,
        `key = "tls/key.pem"`,
        `sni = [{ name = "other.example.test", cert = "other.pem", key = "other-key.pem" }]`,
        `[log.remote]`,
        `url = "tls://127.0.0.1:6514"`,
        `cert = "syslog-client.pem"`,
        `key = "syslog-client.key"`,
      ].join("\n"),
      { mode: 0o600 },
    );
    const { config } = await loadConfig(join(dir, "portcullis.toml"));
    assert.deepEqual(await keyFiles(config, dir), [
      join(dir, "tls", "key.pem"),
      join(dir, "other-key.pem"),
      join(dir, "syslog-client.key"),
      join(dir, "dkim", "example.test.portcullis.pem"),
    ]);
  });
});
