// End to end, measured: a 50,000-message maildrop over POP3 on a real Portcullis. Login (which
// snapshots INBOX), STAT, LIST and UIDL are timed and reported as test diagnostics; the bounds
// asserted are generous (a shared 2-core machine), the numbers printed are the measurement.
// STAT itself is O(1): the session keeps the totals of the snapshot.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { RawPop3 } from "./fixtures/pop3-raw.js";

const COUNT = 50_000;
let server: TestServer;

before(async () => {
  server = await startTestServer();
});
after(async () => {
  await server?.stop();
});

test(`a ${COUNT}-message maildrop: login, STAT, LIST, UIDL`, async (t) => {
  const address = "many@example.test";
  const password = "Tr0ub4dor&3-many";
  const account = await server.addUser(address, password);
  const { store } = server.services;
  const inbox = (await store.getMailbox(account.id, "INBOX"))!;
  const t0 = performance.now();
  const bodyOf = (i: number) => Buffer.from(`From: a@example.org\r\nSubject: ${String(i).padStart(6, "0")}\r\n\r\nmessage ${String(i).padStart(6, "0")}\r\n`);
  for (let i = 0; i < COUNT; i += 500) {
    await Promise.all(Array.from({ length: Math.min(500, COUNT - i) }, (_, k) => store.appendMessage(inbox.id, { body: bodyOf(i + k) })));
  }
  t.diagnostic(`appended ${COUNT} messages in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const size = bodyOf(0).length * COUNT;

  const c = await RawPop3.connect(server.ports.pop3s, { tls: { ca: server.caCert } });
  await c.line();
  await c.cmd(`USER ${address}`);
  let t1 = performance.now();
  assert.equal(await c.cmd(`PASS ${password}`), `+OK maildrop has ${COUNT} messages (${size} octets)`);
  const login = performance.now() - t1;

  t1 = performance.now();
  assert.equal(await c.cmd("STAT"), `+OK ${COUNT} ${size}`);
  const stat = performance.now() - t1;

  t1 = performance.now();
  assert.equal(await c.cmd("LIST"), `+OK ${COUNT} messages (${size} octets)`);
  const listing = await c.multiline(30_000);
  const list = performance.now() - t1;
  assert.equal(listing.length, COUNT);
  assert.equal(listing[COUNT - 1], `${COUNT} ${bodyOf(0).length}`);

  t1 = performance.now();
  assert.equal(await c.cmd("UIDL"), "+OK unique-id listing follows");
  const uids = await c.multiline(30_000);
  const uidl = performance.now() - t1;
  assert.equal(uids.length, COUNT);
  assert.equal(new Set(uids.map((l) => l.split(" ")[1])).size, COUNT, "UIDLs are unique");

  // appends ran concurrently, so message 25000 is whichever got the 25000th UID
  const meta = (await store.listMessages(inbox.id))[24_999]!;
  const expected = (await store.readBody(meta.id)).toString().split("\r\n").slice(0, -1);
  t1 = performance.now();
  assert.equal(await c.cmd("RETR 25000"), `+OK ${bodyOf(0).length} octets`);
  assert.deepEqual(await c.multiline(), expected);
  const retr = performance.now() - t1;
  assert.match((await c.cmd("QUIT")) ?? "", /^\+OK/);

  t.diagnostic(`login+snapshot ${login.toFixed(1)} ms, STAT ${stat.toFixed(2)} ms, LIST ${list.toFixed(1)} ms, UIDL ${uidl.toFixed(1)} ms, RETR ${retr.toFixed(2)} ms`);
  assert.ok(stat < 1000, `STAT took ${stat} ms`);
  assert.ok(login < 15_000, `login took ${login} ms`);
});
