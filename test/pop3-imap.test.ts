// End to end: POP3 and IMAP share the maildrop. An IMAP client (imapflow) has INBOX selected
// while a POP3 client deletes a message; at POP3 QUIT (UPDATE) the IMAP session is told EXPUNGE,
// and a message that IMAP expunged while the POP3 session was open gets a clean -ERR on RETR.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { ImapFlow } from "imapflow";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { RawPop3, putInInbox, sampleMessage } from "./fixtures/pop3-raw.js";

let server: TestServer;

before(async () => {
  server = await startTestServer();
});
after(async () => {
  await server?.stop();
});

function imapClient(user: string, pass: string): ImapFlow {
  return new ImapFlow({
    host: "127.0.0.1",
    port: server.ports.imaps,
    secure: true,
    tls: { ca: [server.caCert], servername: "localhost" },
    auth: { user, pass },
    logger: false,
  });
}

async function popLogin(address: string, password: string): Promise<RawPop3> {
  const c = await RawPop3.connect(server.ports.pop3s, { tls: { ca: server.caCert } });
  assert.equal(await c.line(), "+OK Portcullis POP3 ready");
  assert.equal(await c.cmd(`USER ${address}`), "+OK send PASS");
  assert.match((await c.cmd(`PASS ${password}`)) ?? "", /^\+OK maildrop has/);
  return c;
}

test("POP3 deletions reach an IMAP session on INBOX as EXPUNGE, only at QUIT", async () => {
  const address = "shared@example.test";
  const password = "Tr0ub4dor&3-shared";
  await server.addUser(address, password);
  await putInInbox(server, address, [sampleMessage("keep", ["1"], address), sampleMessage("drop", ["2"], address), sampleMessage("keep too", ["3"], address)]);

  const imap = imapClient(address, password);
  await imap.connect();
  try {
    const lock = await imap.getMailboxLock("INBOX");
    try {
      const expunged: number[] = [];
      imap.on("expunge", (d: { seq?: number }) => expunged.push(d.seq ?? -1));
      assert.equal((imap.mailbox as { exists: number }).exists, 3);

      const pop = await popLogin(address, password);
      assert.equal(await pop.cmd("DELE 2"), "+OK message 2 deleted");
      await imap.noop();
      assert.deepEqual(expunged, [], "nothing is expunged before QUIT");

      assert.equal(await pop.cmd("QUIT"), "+OK Portcullis POP3 signing off (1 messages deleted, 2 left)");
      for (let i = 0; i < 50 && expunged.length === 0; i++) {
        await imap.noop();
        if (expunged.length === 0) await new Promise((r) => setTimeout(r, 50));
      }
      assert.deepEqual(expunged, [2], "the IMAP session saw message 2 expunged");
      assert.equal((imap.mailbox as { exists: number }).exists, 2);
      const subjects: string[] = [];
      for await (const m of imap.fetch("1:*", { envelope: true })) subjects.push(m.envelope?.subject ?? "");
      assert.deepEqual(subjects, ["keep", "keep too"]);
    } finally {
      lock.release();
    }
  } finally {
    await imap.logout();
  }
});

test("a message expunged over IMAP while a POP3 session is open: RETR gets -ERR, the rest works", async () => {
  const address = "race@example.test";
  const password = "Tr0ub4dor&3-race";
  await server.addUser(address, password);
  await putInInbox(server, address, [sampleMessage("first", ["1"], address), sampleMessage("second", ["2"], address)]);
  const pop = await popLogin(address, password);

  const imap = imapClient(address, password);
  await imap.connect();
  try {
    const lock = await imap.getMailboxLock("INBOX");
    try {
      assert.ok(await imap.messageDelete("1", { uid: true }));
    } finally {
      lock.release();
    }
  } finally {
    await imap.logout();
  }

  assert.equal(await pop.cmd("RETR 1"), "-ERR message was removed by another session");
  pop.send("RETR 2\r\n");
  assert.match((await pop.line()) ?? "", /^\+OK \d+ octets$/);
  assert.ok((await pop.multiline()).includes("Subject: second"));
  assert.match((await pop.cmd("QUIT")) ?? "", /^\+OK/);
});
