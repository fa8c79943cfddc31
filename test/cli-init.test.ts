// `portcullis init`: what it creates (and with which modes), the port base, and that it never
// overwrites an existing setup. Also `--help` on every command.

import { test } from "node:test";
import assert from "node:assert/strict";
import { stat, readFile } from "node:fs/promises";
import { join } from "node:path";
import { X509Certificate, createPrivateKey } from "node:crypto";
import { runCli, withTempDir } from "./helpers/cli.js";
import { loadConfig } from "../src/config/load.js";

const mode = async (p: string): Promise<string> => ((await stat(p)).mode & 0o777).toString(8);

test("init creates the data dir 0700, config, TLS certificate and key, DKIM key (0600) and the store, then refuses to overwrite", async () => {
  await withTempDir(async (tmp) => {
    const data = join(tmp, "data");
    const r = await runCli(["init", "--data", data, "--domain", "Example.ORG", "--hostname", "mx.example.org", "--port-base", "20000"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Created .*data \(mode 0700\)/);
    assert.match(r.stdout, /portcullis\._domainkey\.example\.org\. IN TXT "v=DKIM1; k=rsa; p=[A-Za-z0-9+/=]{300,}"/);
    assert.match(r.stdout, /smtp +20025\n/);

    assert.equal(await mode(data), "700");
    for (const f of ["portcullis.toml", "tls/cert.pem", "tls/key.pem", "dkim/example.org.portcullis.pem"]) {
      assert.equal(await mode(join(data, f)), "600", f);
    }

    // The certificate is for the host name and for localhost / 127.0.0.1, RSA 2048, ~825 days.
    const cert = new X509Certificate(await readFile(join(data, "tls/cert.pem")));
    assert.equal(cert.subject, "CN=mx.example.org");
    assert.equal(cert.subjectAltName, "DNS:mx.example.org, DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1");
    const days = (Date.parse(cert.validTo) - Date.now()) / 86_400_000;
    assert.ok(days > 823 && days < 826, `valid for ${days} days`);
    assert.ok(cert.checkPrivateKey(createPrivateKey(await readFile(join(data, "tls/key.pem")))));
    const dkim = createPrivateKey(await readFile(join(data, "dkim/example.org.portcullis.pem")));
    assert.equal(dkim.asymmetricKeyType, "rsa");
    assert.equal(dkim.asymmetricKeyDetails?.modulusLength, 2048);

    // The config it wrote loads, with the port base applied and the admin listener on loopback.
    const { config } = await loadConfig(join(data, "portcullis.toml"));
    assert.equal(config.server.hostname, "mx.example.org");
    assert.deepEqual(
      Object.fromEntries(Object.entries(config.listeners).map(([n, l]) => [n, l.port])),
      { smtp: 20025, submission: 20587, submissions: 20465, imap: 20143, imaps: 20993, pop3: 20110, pop3s: 20995, admin: 20080 },
    );
    assert.deepEqual(config.listeners.admin!.addresses, ["127.0.0.1"]);

    // The store has the domain.
    const list = await runCli(["domain", "list", "--config", join(data, "portcullis.toml")]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^example\.org +0 +-$/m);

    // A second init refuses and changes nothing.
    const before = await readFile(join(data, "portcullis.toml"), "utf8");
    const keyBefore = await readFile(join(data, "tls/key.pem"), "utf8");
    const again = await runCli(["init", "--data", data, "--domain", "other.example"]);
    assert.equal(again.code, 1);
    assert.equal(again.stderr, `portcullis: ${join(data, "portcullis.toml")} already exists; refusing to overwrite an existing setup\n`);
    assert.equal(await readFile(join(data, "portcullis.toml"), "utf8"), before);
    assert.equal(await readFile(join(data, "tls/key.pem"), "utf8"), keyBefore);
  });
});

test("init without --port-base uses the standard ports; without --data it uses the directory of --config", async () => {
  await withTempDir(async (tmp) => {
    const file = join(tmp, "srv", "portcullis.toml");
    const r = await runCli(["init", "--config", file, "--domain", "example.net"]);
    assert.equal(r.code, 0, r.stderr);
    const { config } = await loadConfig(file);
    assert.equal(config.server.hostname, "mail.example.net");
    assert.equal(config.listeners.smtp!.port, 25);
    assert.equal(config.listeners.imaps!.port, 993);
    assert.equal(config.listeners.admin!.port, 80);
  });
});

test("init refuses a bad domain and a bad port base", async () => {
  await withTempDir(async (tmp) => {
    const bad = await runCli(["init", "--data", join(tmp, "a"), "--domain", "not a domain"]);
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr, 'portcullis: not a valid domain name: "not a domain"\n');
    const port = await runCli(["init", "--data", join(tmp, "b"), "--domain", "example.org", "--port-base", "65000"]);
    assert.notEqual(port.code, 0);
    assert.match(port.stderr, /--port-base <n>' argument '65000' is invalid\. a number from 0 to 64540/);
  });
});

test("--help works on every command", async () => {
  const commands = [[], ["init"], ["serve"], ["quickstart"], ["user"], ["user", "add"], ["user", "del"], ["user", "passwd"], ["user", "list"], ["domain", "add"], ["domain", "del"], ["domain", "list"], ["alias", "add"], ["alias", "del"], ["alias", "list"], ["check"], ["ban", "list"], ["ban", "add"], ["ban", "del"]];
  for (const c of commands) {
    const r = await runCli([...c, "--help"]);
    assert.equal(r.code, 0, `${c.join(" ")} --help: ${r.stderr}`);
    assert.match(r.stdout, /^Usage: portcullis/, c.join(" "));
    if (c.length > 0 && !["user"].includes(c.join(" "))) assert.match(r.stdout, /--config <file>/, `${c.join(" ")} takes --config`);
  }
});
