// Unit tests of the setup helpers: domain names, the rendered config, DKIM keys and records.

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, readFile, writeFile, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createPublicKey } from "node:crypto";
import { normalizeDomain, InitError, ensureDkimKey, dkimKeyPath, dkimDnsRecord, generateDkimPrivateKey, writePrivateFile } from "./init.js";
import { renderConfig } from "./render.js";
import { parseTomlFile } from "./load.js";

test("normalizeDomain lower-cases, drops the root dot and refuses what is not a host name", () => {
  assert.equal(normalizeDomain("Example.ORG."), "example.org");
  assert.equal(normalizeDomain(" mail-1.example.org "), "mail-1.example.org");
  for (const bad of ["", "a b.org", "-x.org", "x-.org", "ex_ample.org", "a..b", "[192.0.2.1]", "x".repeat(64) + ".org", "user@example.org"]) {
    assert.throws(() => normalizeDomain(bad), InitError, bad);
  }
});

test("renderConfig: port 0 and loopback addresses for tests; admin on loopback by default", () => {
  const zero = parseTomlFile(renderConfig({ hostname: "localhost", zeroPorts: true, addresses: ["127.0.0.1"] }), "x.toml") as { listeners: Record<string, { port: number; addresses: string[] }> };
  for (const [name, l] of Object.entries(zero.listeners)) {
    assert.equal(l.port, 0, name);
    assert.deepEqual(l.addresses, ["127.0.0.1"], name);
  }
  const std = parseTomlFile(renderConfig({ hostname: 'we"ird' }), "x.toml") as { server: { hostname: string }; listeners: Record<string, { port: number; addresses?: string[] }> };
  assert.equal(std.server.hostname, 'we"ird', "strings are escaped");
  assert.equal(std.listeners.smtp!.port, 25);
  assert.equal(std.listeners.smtp!.addresses, undefined);
  assert.deepEqual(std.listeners.admin!.addresses, ["127.0.0.1"]);
});

test("ensureDkimKey creates a 0600 key once and keeps an existing one; the DNS record carries its public key", async () => {
  const dir = await mkdtemp(join(tmpdir(), "portcullis-init-"));
  try {
    const a = await ensureDkimKey(dir, "example.org", "sel");
    assert.equal(a.file, dkimKeyPath(dir, "example.org", "sel"));
    assert.equal(a.file, join(dir, "dkim", "example.org.sel.pem"));
    assert.equal(a.created, true);
    assert.equal(((await stat(a.file)).mode & 0o777).toString(8), "600");
    assert.equal(((await stat(join(dir, "dkim"))).mode & 0o777).toString(8), "700");
    const pem = await readFile(a.file, "utf8");
    const b = await ensureDkimKey(dir, "example.org", "sel");
    assert.equal(b.created, false);
    assert.equal(await readFile(b.file, "utf8"), pem);
    const spki = createPublicKey(pem).export({ type: "spki", format: "der" }).toString("base64");
    assert.equal(a.dnsRecord, `sel._domainkey.example.org. IN TXT "v=DKIM1; k=rsa; p=${spki}"`);
    assert.equal(dkimDnsRecord("example.org", "sel", await generateDkimPrivateKey()).startsWith("sel._domainkey.example.org. IN TXT"), true);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("writePrivateFile never replaces a file", async () => {
  const dir = await mkdtemp(join(tmpdir(), "portcullis-init-"));
  try {
    const f = join(dir, "x");
    await writeFile(f, "old");
    await assert.rejects(writePrivateFile(f, "new"), { code: "EEXIST" });
    assert.equal(await readFile(f, "utf8"), "old");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
