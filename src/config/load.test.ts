// Unit tests of the configuration loader: merge order, provenance in error messages, path
// resolution and freezing.

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, writeFile, mkdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig, ConfigError, mergeInto, resolveConfigPath, allowedKeysAt, dottedKey, type Provenance } from "./load.js";
import { renderConfig } from "./render.js";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "portcullis-config-"));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const MINIMAL = `[server]\nhostname = "mail.example.org"\n`;

async function errorOf(file: string): Promise<ConfigError> {
  try {
    await loadConfig(file);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  assert.fail("expected a ConfigError");
}

test("a minimal file gets the secure defaults, absolute paths, and is frozen", async () => {
  await withDir(async (dir) => {
    const file = join(dir, "portcullis.toml");
    await writeFile(file, MINIMAL);
    const { config, files, dataDir } = await loadConfig(file);
    assert.deepEqual(files, [file]);
    assert.equal(dataDir, dir);
    assert.equal(config.server.data_dir, dir);
    assert.equal(config.tls.cert, join(dir, "tls/cert.pem"));
    assert.equal(config.tls.key, join(dir, "tls/key.pem"));
    assert.equal(config.tls.min_version, "TLSv1.2");
    assert.equal(config.server.shutdown_timeout, 10_000);
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.limits));
    assert.ok(Object.isFrozen(config.tls.sni));
    assert.throws(() => {
      (config.server as { hostname: string }).hostname = "x";
    }, TypeError);
  });
});

test("data_dir and TLS paths are relative to the config file's directory", async () => {
  await withDir(async (dir) => {
    await mkdir(join(dir, "etc"));
    const file = join(dir, "etc", "portcullis.toml");
    await writeFile(file, `${MINIMAL}data_dir = "../var"\n[tls]\ncert = "certs/c.pem"\nkey = "/abs/k.pem"\nsni = [{ name = "a.example", cert = "a.pem", key = "a.key" }]\n`);
    const { config, dataDir } = await loadConfig(file);
    assert.equal(dataDir, join(dir, "var"));
    assert.equal(config.tls.cert, join(dir, "etc", "certs/c.pem"));
    assert.equal(config.tls.key, "/abs/k.pem");
    assert.equal(config.tls.sni[0]!.cert, join(dir, "etc", "a.pem"));
  });
});

test("drop-ins merge in file-name order: tables merge, arrays and scalars replace", async () => {
  await withDir(async (dir) => {
    const file = join(dir, "portcullis.toml");
    await writeFile(file, `${MINIMAL}[limits]\nmax_connections = 100\nmax_connections_per_ip = 5\n[auth]\nnever_ban = ["192.0.2.1", "192.0.2.2"]\n`);
    await mkdir(join(dir, "portcullis.d"));
    // Written out of order on purpose: 20 must win over 10 whatever the directory order.
    await writeFile(join(dir, "portcullis.d", "20-b.toml"), `[limits]\nmax_connections = 300\n`);
    await writeFile(join(dir, "portcullis.d", "10-a.toml"), `[limits]\nmax_connections = 200\n[auth]\nnever_ban = ["198.51.100.0/24"]\n`);
    await writeFile(join(dir, "portcullis.d", "30-ignored.conf"), `this is not toml and not read`);
    const { config, files } = await loadConfig(file);
    assert.deepEqual(files, [file, join(dir, "portcullis.d", "10-a.toml"), join(dir, "portcullis.d", "20-b.toml")]);
    assert.equal(config.limits.max_connections, 300);
    assert.equal(config.limits.max_connections_per_ip, 5, "a key only the main file sets survives the merge");
    assert.deepEqual(config.auth.never_ban, ["198.51.100.0/24"], "arrays replace, they do not concatenate");
  });
});

test("an unknown key in a drop-in names that file, the dotted key and the allowed keys", async () => {
  await withDir(async (dir) => {
    const file = join(dir, "portcullis.toml");
    await writeFile(file, `${MINIMAL}[listeners.smtp]\nprotocol = "smtp"\nsmtp_role = "mx"\nport = 25\ntls = "starttls"\n`);
    await mkdir(join(dir, "portcullis.d"));
    const dropIn = join(dir, "portcullis.d", "10-x.toml");
    await writeFile(dropIn, `[listeners.smtp]\nfoo = 1\n`);
    const e = await errorOf(file);
    assert.equal(e.problems.length, 1);
    assert.match(e.problems[0]!, new RegExp(`^unknown key listeners\\.smtp\\.foo in ${dropIn.replace(/[.]/g, "\\.")} \\(allowed here: protocol, smtp_role, port, addresses, tls, `));
  });
});

test("a wrong type names the key, the file that set it and what is expected", async () => {
  await withDir(async (dir) => {
    const file = join(dir, "portcullis.toml");
    await writeFile(file, `${MINIMAL}[limits]\nmax_connections = "many"\n`);
    const e = await errorOf(file);
    assert.deepEqual(e.problems, [`limits.max_connections in ${file}: Invalid input: expected number, received string`]);
  });
});

test("a bad duration and a bad enum value say what is allowed", async () => {
  await withDir(async (dir) => {
    const file = join(dir, "portcullis.toml");
    await writeFile(file, `${MINIMAL}shutdown_timeout = "10 minutes"\n[tls]\nmin_version = "TLSv1.0"\n`);
    const e = await errorOf(file);
    assert.equal(e.problems.length, 2);
    assert.ok(e.problems.includes(`server.shutdown_timeout in ${file}: not a duration: "10 minutes" (use e.g. "30s", "5m", "1h", "5d")`), e.problems.join("\n"));
    assert.ok(e.problems.some((p) => p.startsWith(`tls.min_version in ${file}: `) && p.includes('"TLSv1.2"') && p.includes('"TLSv1.3"')), e.problems.join("\n"));
  });
});

test("a missing required key says it is missing", async () => {
  await withDir(async (dir) => {
    const file = join(dir, "portcullis.toml");
    await writeFile(file, `[server]\ndata_dir = "."\n`);
    const e = await errorOf(file);
    assert.deepEqual(e.problems, [`server.hostname in ${file}: missing; Invalid input: expected string`]);
  });
});

test("a TOML syntax error names the file and line", async () => {
  await withDir(async (dir) => {
    const file = join(dir, "portcullis.toml");
    await writeFile(file, MINIMAL);
    await mkdir(join(dir, "portcullis.d"));
    const dropIn = join(dir, "portcullis.d", "50-broken.toml");
    await writeFile(dropIn, `[limits]\nmax_connections = 10\nmax_connections_per_ip = = 3\n`);
    const e = await errorOf(file);
    assert.equal(e.problems.length, 1);
    assert.ok(e.problems[0]!.startsWith(`${dropIn}:3:`), e.problems[0]);
    assert.match(e.problems[0]!, /TOML syntax error/);
  });
});

test("a missing file says how to create one", async () => {
  await withDir(async (dir) => {
    const e = await errorOf(join(dir, "nope.toml"));
    assert.match(e.problems[0]!, /no such file \(create one with `portcullis init`/);
  });
});

test("cross-key rules: smtp_role required, insecure auth only on loopback, no duplicate ports", async () => {
  await withDir(async (dir) => {
    const file = join(dir, "portcullis.toml");
    await writeFile(
      file,
      `${MINIMAL}[listeners.a]\nprotocol = "smtp"\nport = 2525\ntls = "starttls"\n` +
        `[listeners.b]\nprotocol = "pop3"\nport = 2525\ntls = "starttls"\nallow_insecure_auth = true\naddresses = ["0.0.0.0"]\n`,
    );
    const e = await errorOf(file);
    assert.ok(e.problems.some((p) => p.startsWith(`listeners.a.smtp_role in ${file}: required for an smtp listener`)), e.problems.join("\n"));
    assert.ok(e.problems.some((p) => p.startsWith(`listeners.b.allow_insecure_auth in ${file}: allowed only on a listener whose addresses are all loopback`)), e.problems.join("\n"));
    assert.ok(e.problems.some((p) => p.startsWith("listeners a and b both use port 2525")), e.problems.join("\n"));
  });
});

test("the file init writes is valid, with the port base applied", async () => {
  await withDir(async (dir) => {
    const file = join(dir, "portcullis.toml");
    await writeFile(file, renderConfig({ hostname: "mail.example.org", portBase: 10_000 }));
    const { config } = await loadConfig(file);
    const ports = Object.fromEntries(Object.entries(config.listeners).map(([n, l]) => [n, l.port]));
    assert.deepEqual(ports, { smtp: 10025, submission: 10587, submissions: 10465, imap: 10143, imaps: 10993, pop3: 10110, pop3s: 10995, admin: 10080 });
    assert.deepEqual(config.listeners.admin!.addresses, ["127.0.0.1"]);
    assert.equal(config.listeners.smtp!.smtp_role, "mx");
    assert.equal(config.listeners.submissions!.tls, "implicit");
    assert.equal(config.listeners.smtp!.addresses, undefined);
  });
});

test("mergeInto records which file set each key, replacing a table's provenance when it is replaced", () => {
  const prov: Provenance = new Map();
  const base = mergeInto({}, { a: { b: 1, c: { d: 2 } } }, "one", prov);
  mergeInto(base, { a: { c: 5 } }, "two", prov);
  assert.deepEqual(base, { a: { b: 1, c: 5 } });
  assert.equal(prov.get(JSON.stringify(["a", "b"])), "one");
  assert.equal(prov.get(JSON.stringify(["a", "c"])), "two");
  assert.equal(prov.has(JSON.stringify(["a", "c", "d"])), false);
});

test("resolveConfigPath: --config, then $PORTCULLIS_CONFIG, then ./data/portcullis.toml", () => {
  assert.equal(resolveConfigPath("/x/a.toml", { PORTCULLIS_CONFIG: "/y/b.toml" }), "/x/a.toml");
  assert.equal(resolveConfigPath(undefined, { PORTCULLIS_CONFIG: "/y/b.toml" }), "/y/b.toml");
  assert.equal(resolveConfigPath(undefined, {}), join(process.cwd(), "data", "portcullis.toml"));
});

test("allowedKeysAt and dottedKey", () => {
  assert.deepEqual(allowedKeysAt(["server"]), ["hostname", "data_dir", "shutdown_timeout"]);
  assert.ok(allowedKeysAt(["listeners", "anything"])!.includes("smtp_role"));
  assert.ok(allowedKeysAt(["tls", "sni", 0])!.includes("name"));
  assert.equal(dottedKey(["outbound", "routes", "example.com"]), 'outbound.routes."example.com"');
  assert.equal(dottedKey(["tls", "sni", 0, "cert"]), "tls.sni[0].cert");
});
