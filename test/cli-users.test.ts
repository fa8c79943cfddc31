// `portcullis user|domain|alias`: the user directory through the real CLI, including the refusal
// of weak passwords with the reason.

import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { stat } from "node:fs/promises";
import { runCli, withTempDir } from "./helpers/cli.js";
import { openStore } from "../src/store/index.js";
import { verify as verifyPassword } from "@node-rs/argon2";

const GOOD = "Tr0ubadour-and-a-horse";
const GOOD2 = "quiet-Lantern-at-dusk-42";

test("user, domain and alias commands", async () => {
  await withTempDir(async (tmp) => {
    const data = join(tmp, "data");
    assert.equal((await runCli(["init", "--data", data, "--domain", "example.org"])).code, 0);
    const env = { PORTCULLIS_CONFIG: join(data, "portcullis.toml") }; // the environment variable route
    const cli = (args: string[], input?: string) => runCli(args, { env, ...(input !== undefined ? { input } : {}) });

    // user add: the password from stdin, the address lower-cased.
    let r = await cli(["user", "add", "Alice@Example.ORG", "--password-stdin"], `${GOOD}\n`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "created account alice@example.org\n");
    assert.equal((await cli(["user", "add", "bob@example.org", "--password-stdin"], GOOD2)).code, 0);

    r = await cli(["user", "add", "alice@example.org", "--password-stdin"], GOOD);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, "portcullis: account alice@example.org already exists\n");
    r = await cli(["user", "add", "carol@elsewhere.example", "--password-stdin"], GOOD);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, "portcullis: elsewhere.example is not a local domain (add it with `portcullis domain add elsewhere.example`)\n");
    r = await cli(["user", "add", "no-at-sign", "--password-stdin"], GOOD);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'portcullis: not a valid address: "no-at-sign" (expected local@domain)\n');
    r = await cli(["user", "add", "dave@example.org"]); // no terminal, no --password-stdin
    assert.equal(r.code, 1);
    assert.equal(r.stderr, "portcullis: no terminal to prompt for the password; pipe it with --password-stdin\n");

    r = await cli(["user", "list"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ADDRESS +STATUS +QUOTA +CREATED\nalice@example\.org +active +- +\d{4}-\d\d-\d\d\nbob@example\.org +active/);

    // The stored credentials verify the password (argon2id) and carry a SCRAM verifier.
    {
      const store = await openStore(data);
      try {
        const a = await store.getAccount("alice@example.org");
        assert.ok(a?.credentials);
        assert.match(a.credentials.passwordHash, /^\$argon2id\$/);
        assert.ok(await verifyPassword(a.credentials.passwordHash, GOOD));
        assert.equal(a.credentials.scram.storedKey.length, 32);
        assert.deepEqual((await store.listMailboxes(a.id)).map((m) => m.name).sort(), ["Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"]);
      } finally {
        await store.close();
      }
    }

    // passwd
    r = await cli(["user", "passwd", "alice@example.org", "--password-stdin"], `${GOOD2}\r\n`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "password of alice@example.org changed\n");
    {
      const store = await openStore(data);
      try {
        const a = await store.getAccount("alice@example.org");
        assert.ok(await verifyPassword(a!.credentials!.passwordHash, GOOD2));
        assert.equal(await verifyPassword(a!.credentials!.passwordHash, GOOD), false);
      } finally {
        await store.close();
      }
    }
    r = await cli(["user", "passwd", "nobody@example.org", "--password-stdin"], GOOD);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, "portcullis: no account nobody@example.org\n");

    // domain add creates a DKIM key and prints the record; list; del refuses while in use.
    r = await cli(["domain", "add", "Example.NET"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^added domain example\.net\nDKIM key created: .*\/dkim\/example\.net\.portcullis\.pem\nPublish this DNS record:\n  portcullis\._domainkey\.example\.net\. IN TXT "v=DKIM1; k=rsa; p=/);
    assert.equal(((await stat(join(data, "dkim", "example.net.portcullis.pem"))).mode & 0o777).toString(8), "600");
    r = await cli(["domain", "add", "example.net"]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, "portcullis: domain example.net already exists\n");
    r = await cli(["domain", "list"]);
    assert.match(r.stdout, /^DOMAIN +ACCOUNTS +CATCH-ALL\nexample\.net +0 +-\nexample\.org +2 +-\n$/);

    // alias: targets must be local accounts.
    r = await cli(["alias", "add", "Postmaster@example.org", "alice@example.org", "bob@example.org"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "added alias postmaster@example.org -> alice@example.org, bob@example.org\n");
    r = await cli(["alias", "add", "info@example.org", "alice@example.org", "ghost@example.org", "someone@gmail.example"]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, "portcullis: not local accounts: ghost@example.org, someone@gmail.example (alias targets must be accounts on this server)\n");
    r = await cli(["alias", "add", "alice@example.org", "bob@example.org"]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, "portcullis: alice@example.org is an account; an alias cannot have the same address\n");
    r = await cli(["alias", "list"]);
    assert.equal(r.stdout, "ALIAS                   TARGETS\npostmaster@example.org  alice@example.org, bob@example.org\n");

    // Deleting: a domain in use, an alias target, then in the right order.
    r = await cli(["domain", "del", "example.org"]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, "portcullis: domain example.org still has 2 account(s) and 1 alias(es); delete them first\n");
    r = await cli(["user", "del", "bob@example.org"]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, "portcullis: bob@example.org is a target of the alias(es) postmaster@example.org; delete or change them first\n");
    assert.equal((await cli(["alias", "del", "postmaster@example.org"])).stdout, "deleted alias postmaster@example.org\n");
    assert.equal((await cli(["alias", "list"])).stdout, "no aliases\n");
    assert.equal((await cli(["user", "del", "bob@example.org"])).stdout, "deleted account bob@example.org\n");
    assert.equal((await cli(["user", "del", "alice@example.org"])).stdout, "deleted account alice@example.org\n");
    assert.equal((await cli(["user", "list"])).stdout, "no accounts\n");
    r = await cli(["domain", "del", "example.net"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match((await cli(["domain", "list"])).stdout, /^DOMAIN +ACCOUNTS +CATCH-ALL\nexample\.org +0 +-\n$/);
  });
});

test("weak passwords are refused with the reason and exit status 1", async () => {
  await withTempDir(async (tmp) => {
    const data = join(tmp, "data");
    assert.equal((await runCli(["init", "--data", data, "--domain", "example.org"])).code, 0);
    const cfg = ["--config", join(data, "portcullis.toml")];
    const short = await runCli(["user", "add", "alice@example.org", "--password-stdin", ...cfg], { input: "abc123\n" });
    assert.equal(short.code, 1);
    assert.match(short.stderr, /^portcullis: password refused: .*at least 10 characters/);
    const common = await runCli(["user", "add", "alice@example.org", "--password-stdin", ...cfg], { input: "password123\n" });
    assert.equal(common.code, 1);
    assert.match(common.stderr, /^portcullis: password refused: .*(common|breached)/i);
    const list = await runCli(["user", "list", ...cfg]);
    assert.equal(list.stdout, "no accounts\n", "nothing was created");
  });
});
