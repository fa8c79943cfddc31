// End to end: POP3 timers and shutdown against a real Portcullis. The autologout timer after
// login (RFC 1939 §3, config pop3.idle_timeout, shortened here) and the pre-login timeout answer
// "-ERR [SYS/TEMP] timeout" and close without UPDATE; a server shutdown says so and deletes nothing.

import { test } from "node:test";
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { RawPop3, putInInbox, sampleMessage } from "./fixtures/pop3-raw.js";

async function inboxUids(server: TestServer, address: string): Promise<number[]> {
  const { store } = server.services;
  const account = (await store.getAccount(address))!;
  const inbox = (await store.getMailbox(account.id, "INBOX"))!;
  return (await store.listMessages(inbox.id)).map((m) => m.uid);
}

async function login(server: TestServer, address: string, password: string): Promise<RawPop3> {
  const c = await RawPop3.connect(server.ports.pop3s, { tls: { ca: server.caCert } });
  assert.equal(await c.line(), "+OK Portcullis POP3 ready");
  assert.equal(await c.cmd(`USER ${address}`), "+OK send PASS");
  assert.match((await c.cmd(`PASS ${password}`)) ?? "", /^\+OK maildrop has/);
  return c;
}

test("idle after login: -ERR [SYS/TEMP] timeout, closed, deletions discarded", async () => {
  const server = await startTestServer({ config: { pop3: { idle_timeout: "1s" } } });
  try {
    const address = "idle@example.test";
    const password = "Tr0ub4dor&3-idle";
    await server.addUser(address, password);
    await putInInbox(server, address, [sampleMessage("idle", ["x"], address)]);
    const c = await login(server, address, password);
    assert.equal(await c.cmd("DELE 1"), "+OK message 1 deleted");
    const t0 = Date.now();
    assert.equal(await c.line(10_000), "-ERR [SYS/TEMP] timeout");
    assert.ok(Date.now() - t0 >= 900, "not before the configured timer");
    await c.closedByServer();
    assert.deepEqual(await inboxUids(server, address), [1]);
    assert.ok(server.events().some((e) => e.event === "input.timeout"));
  } finally {
    await server.stop();
  }
});

test("idle before login: -ERR [SYS/TEMP] timeout and closed", async () => {
  const server = await startTestServer({ config: { limits: { preauth_timeout: "1s" } } });
  try {
    const c = await RawPop3.connect(server.ports.pop3);
    assert.equal(await c.line(), "+OK Portcullis POP3 ready");
    assert.equal(await c.line(10_000), "-ERR [SYS/TEMP] timeout");
    await c.closedByServer();
  } finally {
    await server.stop();
  }
});

test("server shutdown: -ERR [SYS/TEMP] server shutting down, no UPDATE", async () => {
  const server = await startTestServer();
  let stopped = false;
  try {
    const address = "shutdown@example.test";
    const password = "Tr0ub4dor&3-shutdown";
    await server.addUser(address, password);
    await putInInbox(server, address, [sampleMessage("stay", ["x"], address)]);
    const c = await login(server, address, password);
    assert.equal(await c.cmd("DELE 1"), "+OK message 1 deleted");
    const stopping = server.stop();
    stopped = true;
    assert.equal(await c.line(10_000), "-ERR [SYS/TEMP] server shutting down");
    await c.closedByServer();
    await stopping;
    assert.ok(!server.events().some((e) => e.event === "pop3.update"), "nothing deleted at shutdown");
  } finally {
    if (!stopped) await server.stop();
  }
});
