// End to end: Debian's fetchmail against a real Portcullis. With STLS (sslproto TLS1.2+ makes
// TLS mandatory) it downloads every message into an MDA and deletes it (checked in the store);
// over pop3s with `keep` and `uidl`, a second run finds nothing new because the UIDLs are stable.
// fetchmail ignores IP addresses in certificates, so it connects to "localhost" (interop notes).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { putInInbox, runProgram, sampleMessage } from "./fixtures/pop3-raw.js";

let server: TestServer;
let dir: string;

before(async () => {
  server = await startTestServer();
  dir = await mkdtemp(join(tmpdir(), "pop3-fetchmail-"));
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

/** Runs fetchmail once with a generated rc file; returns its output. Messages go to `outDir`. */
async function fetchmail(name: string, o: { port: number; ssl: boolean; address: string; password: string; keep: boolean; outDir: string }) {
  const home = join(dir, name);
  await runProgram("mkdir", ["-p", home, o.outDir], "");
  const rc = join(home, "fetchmailrc");
  const lines = [
    "set no syslog",
    `set idfile "${join(home, "fetchids")}"`,
    `poll localhost protocol POP3 port ${o.port} uidl`,
    `  user "${o.address}" there with password "${o.password}" is "root" here`,
    `  ${o.ssl ? "ssl " : ""}sslproto "TLS1.2+" sslcertck sslcertfile "${server.certFile}"`,
    `  mda "/bin/sh -c 'cat > ${o.outDir}/msg.$$'"`,
    `  ${o.keep ? "keep" : "nokeep"}`,
    "",
  ];
  await writeFile(rc, lines.join("\n"), { mode: 0o600 });
  return runProgram("fetchmail", ["-f", rc, "-v", "--nodetach"], "", { HOME: home, FETCHMAILHOME: home }, 60_000);
}

async function readAll(outDir: string): Promise<string[]> {
  const files = (await readdir(outDir)).sort();
  return Promise.all(files.map((f) => readFile(join(outDir, f), "latin1")));
}

test("fetchmail with STLS downloads every message and deletes it from the server", async () => {
  const address = "fetch@example.test";
  const password = "Tr0ub4dor&3-fetch";
  await server.addUser(address, password);
  await putInInbox(server, address, [
    sampleMessage("fetch one", ["Hello fetchmail", ".dot line", "end"], address),
    sampleMessage("fetch two", ["second message"], address),
  ]);
  const outDir = join(dir, "out-stls");
  const r = await fetchmail("stls", { port: server.ports.pop3, ssl: false, address, password, keep: false, outDir });
  const log = r.stdout + r.stderr;
  assert.equal(r.code, 0, log);
  assert.match(log, /STLS/, "fetchmail upgraded with STLS");
  const got = await readAll(outDir);
  assert.equal(got.length, 2, log);
  const joined = got.join("\n---\n");
  assert.match(joined, /Subject: fetch one/);
  assert.match(joined, /Subject: fetch two/);
  assert.match(joined, /\n\.dot line\n/, "the dot-stuffed line arrives un-stuffed");
  assert.deepEqual(await inboxUids(address), [], "both messages were deleted at QUIT");
  assert.ok(server.events().some((e) => e.event === "pop3.update" && e.account === address && e.deleted === 2));
});

test("fetchmail over pop3s with keep + uidl: a second run finds nothing new, nothing is deleted", async () => {
  const address = "fetchkeep@example.test";
  const password = "Tr0ub4dor&3-fetchkeep";
  await server.addUser(address, password);
  await putInInbox(server, address, [sampleMessage("keep one", ["a"], address), sampleMessage("keep two", ["b"], address)]);
  const outDir = join(dir, "out-keep");
  const first = await fetchmail("keep", { port: server.ports.pop3s, ssl: true, address, password, keep: true, outDir });
  assert.equal(first.code, 0, first.stdout + first.stderr);
  assert.equal((await readAll(outDir)).length, 2);
  assert.deepEqual(await inboxUids(address), [1, 2], "keep: nothing deleted");

  // a third message arrives; the second run fetches only it (UIDLs of the first two are known)
  await putInInbox(server, address, [sampleMessage("keep three", ["c"], address)]);
  const second = await fetchmail("keep", { port: server.ports.pop3s, ssl: true, address, password, keep: true, outDir });
  assert.equal(second.code, 0, second.stdout + second.stderr);
  const got = await readAll(outDir);
  assert.equal(got.length, 3, second.stdout + second.stderr);
  assert.equal(got.filter((m) => m.includes("Subject: keep three")).length, 1);
  assert.equal(got.filter((m) => m.includes("Subject: keep one")).length, 1, "message 1 was not fetched twice");
  assert.deepEqual(await inboxUids(address), [1, 2, 3]);
});
