// End to end: curl (pop3:// with --ssl-reqd, i.e. STLS, and pop3s://) against a real Portcullis:
// list, retrieve, delete (DELE + QUIT) checked in the store; without TLS the server advertises no
// login method, so curl never sends the password in clear.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { putInInbox, runProgram, sampleMessage } from "./fixtures/pop3-raw.js";

let server: TestServer;

before(async () => {
  server = await startTestServer();
});
after(async () => {
  await server?.stop();
});

async function curl(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runProgram("curl", ["--silent", "--show-error", "--max-time", "20", "--cacert", server.certFile, ...args], "");
}

async function inboxUids(address: string): Promise<number[]> {
  const { store } = server.services;
  const account = (await store.getAccount(address))!;
  const inbox = (await store.getMailbox(account.id, "INBOX"))!;
  return (await store.listMessages(inbox.id)).map((m) => m.uid);
}

test("curl pop3:// --ssl-reqd (STLS): list, retrieve, delete", async () => {
  const address = "curl@example.test";
  const password = "Tr0ub4dor&3-curl";
  await server.addUser(address, password);
  const m1 = sampleMessage("curl one", ["Hello from curl", ".leading dot", "end"], address);
  const m2 = sampleMessage("curl two", ["second"], address);
  await putInInbox(server, address, [m1, m2]);
  const base = `pop3://127.0.0.1:${server.ports.pop3}`;
  const user = ["-u", `${address}:${password}`];

  const list = await curl(["--ssl-reqd", `${base}/`, ...user]);
  assert.equal(list.code, 0, list.stderr);
  assert.equal(list.stdout, `1 ${m1.length}\r\n2 ${m2.length}\r\n`);

  const retr = await curl(["--ssl-reqd", `${base}/1`, "-v", ...user]);
  assert.equal(retr.code, 0, retr.stderr);
  assert.equal(retr.stdout, m1.toString(), "curl receives the exact message, un-stuffed");
  // after STLS, CAPA lists SASL and curl logs in with AUTH (RFC 5034), not USER/PASS
  assert.match(retr.stderr, /^> STLS/m);
  assert.match(retr.stderr, /^> AUTH (PLAIN|LOGIN)/m);
  assert.doesNotMatch(retr.stderr, /^> (USER|PASS) /m);

  const dele = await curl(["--ssl-reqd", `${base}/1`, "-X", "DELE", "-I", ...user]);
  assert.equal(dele.code, 0, dele.stderr);
  assert.deepEqual(await inboxUids(address), [2], "DELE then QUIT removed message 1 from the store");
  assert.ok(server.events().some((e) => e.event === "pop3.update" && e.account === address && e.deleted === 1));
});

test("curl pop3s://: retrieve and delete", async () => {
  const address = "curls@example.test";
  const password = "Tr0ub4dor&3-curls";
  await server.addUser(address, password);
  const m1 = sampleMessage("curl tls", ["over implicit TLS"], address);
  await putInInbox(server, address, [m1]);
  const base = `pop3s://127.0.0.1:${server.ports.pop3s}`;
  const user = ["-u", `${address}:${password}`];
  const retr = await curl([`${base}/1`, ...user]);
  assert.equal(retr.code, 0, retr.stderr);
  assert.equal(retr.stdout, m1.toString());
  const dele = await curl([`${base}/1`, "-X", "DELE", "-I", ...user]);
  assert.equal(dele.code, 0, dele.stderr);
  assert.deepEqual(await inboxUids(address), []);
});

test("curl pop3:// without TLS cannot log in: the server offers no cleartext login", async () => {
  const address = "curlplain@example.test";
  const password = "Tr0ub4dor&3-curlplain";
  await server.addUser(address, password);
  await putInInbox(server, address, [sampleMessage("x", ["y"], address)]);
  const r = await curl([`pop3://127.0.0.1:${server.ports.pop3}/`, "-u", `${address}:${password}`, "-v"]);
  assert.notEqual(r.code, 0);
  // CAPA before TLS advertises neither USER nor SASL, so curl never sends the credentials
  assert.match(r.stderr, /^< STLS/m);
  assert.doesNotMatch(r.stderr, /^> (USER|PASS|AUTH)/m);
  assert.ok(!server.events().some((e) => e.event === "auth.success" && e.account === address));
  assert.deepEqual(await inboxUids(address), [1]);
});

test("curl with a wrong password gets [AUTH] authentication failed", async () => {
  const address = "curlbad@example.test";
  await server.addUser(address, "Tr0ub4dor&3-curlbad");
  const r = await curl([`pop3s://127.0.0.1:${server.ports.pop3s}/`, "-u", `${address}:wrong-password`, "-v"]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /-ERR \[AUTH\] authentication failed/);
});
