// End to end: getmail6 (Debian package getmail6) over pop3s against a real Portcullis. It
// downloads every message and deletes (checked in the store); with read_all off it remembers
// UIDLs, so a second run fetches only the new message. getmail6 has no STLS for POP3, so only
// implicit TLS (port 995 role) is exercised here.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { putInInbox, runProgram, sampleMessage } from "./fixtures/pop3-raw.js";

let server: TestServer;
let dir: string;

before(async () => {
  server = await startTestServer();
  dir = await mkdtemp(join(tmpdir(), "pop3-getmail-"));
});
after(async () => {
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function inboxUids(address: string): Promise<number[]> {
  const { store } = server.services;
  const account = (await store.getAccount(address))!;
  const inbox = (await store.getMailbox(account.id, "INBOX"))!;
  return (await store.listMessages(inbox.id)).map((m) => m.uid);
}

async function getmail(name: string, o: { address: string; password: string; del: boolean; readAll: boolean }) {
  const home = join(dir, name);
  const maildir = join(home, "Maildir");
  for (const sub of ["cur", "new", "tmp"]) await mkdir(join(maildir, sub), { recursive: true });
  const rc = join(home, "getmailrc");
  await writeFile(
    rc,
    [
      "[retriever]",
      "type = SimplePOP3SSLRetriever",
      "server = 127.0.0.1",
      `port = ${server.ports.pop3s}`,
      `username = ${o.address}`,
      `password = ${o.password}`,
      `ca_certs = ${server.certFile}`,
      "",
      // getmail refuses Maildir delivery as root (the test machines run as root): an external MDA
      // writing one file per message into Maildir/new instead.
      "[destination]",
      "type = MDA_external",
      "path = /bin/sh",
      `arguments = ("-c", "cat > ${maildir}/new/msg.$$")`,
      "allow_root_commands = true",
      "",
      "[options]",
      "verbose = 2",
      `read_all = ${o.readAll}`,
      `delete = ${o.del}`,
      "",
    ].join("\n"),
    { mode: 0o600 },
  );
  const r = await runProgram("getmail", ["--getmaildir", home, "--rcfile", rc], "", { HOME: home }, 60_000);
  const files = (await readdir(join(maildir, "new"))).sort();
  const messages = await Promise.all(files.map((f) => readFile(join(maildir, "new", f), "latin1")));
  return { ...r, messages };
}

test("getmail6 over pop3s downloads every message and deletes on the server", async () => {
  const address = "getmail@example.test";
  const password = "Tr0ub4dor&3-getmail";
  await server.addUser(address, password);
  await putInInbox(server, address, [sampleMessage("gm one", ["hello", ".dot"], address), sampleMessage("gm two", ["x"], address)]);
  const r = await getmail("del", { address, password, del: true, readAll: true });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(r.messages.length, 2, r.stdout + r.stderr);
  assert.ok(r.messages.some((m) => m.includes("Subject: gm one") && /\n\.dot\r?\n/.test(m)));
  assert.ok(r.messages.some((m) => m.includes("Subject: gm two")));
  assert.deepEqual(await inboxUids(address), []);
});

test("getmail6 remembers UIDLs: a second run fetches only the new message", async () => {
  const address = "getmailkeep@example.test";
  const password = "Tr0ub4dor&3-getmailkeep";
  await server.addUser(address, password);
  await putInInbox(server, address, [sampleMessage("gk one", ["a"], address)]);
  const first = await getmail("keep", { address, password, del: false, readAll: false });
  assert.equal(first.code, 0, first.stdout + first.stderr);
  assert.equal(first.messages.length, 1);
  await putInInbox(server, address, [sampleMessage("gk two", ["b"], address)]);
  const second = await getmail("keep", { address, password, del: false, readAll: false });
  assert.equal(second.code, 0, second.stdout + second.stderr);
  assert.equal(second.messages.length, 2, second.stdout + second.stderr);
  assert.equal(second.messages.filter((m) => m.includes("Subject: gk one")).length, 1, "message one not fetched again");
  assert.deepEqual(await inboxUids(address), [1, 2]);
});
