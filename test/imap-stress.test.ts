// End to end: many imapflow sessions on one mailbox at once (APPEND, FETCH, STORE, EXPUNGE,
// MOVE, SEARCH, NOOP in random order). Afterwards every session's view — message count and
// UIDs in sequence order — equals the store's, and the server logged no session error.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { ImapFlow, type MailboxLockObject } from "imapflow";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { PASSWORD, sampleMessage } from "./imap-helpers.js";

let server: TestServer;

before(async () => {
  server = await startTestServer({
    config: { limits: { max_connections_per_ip: 100, max_new_connections_per_ip_per_minute: 1000, max_sessions_per_account: 100 } },
  });
});
after(async () => {
  await server?.stop();
});

test("16 concurrent sessions on one mailbox keep consistent views", async () => {
  const user = "stress@example.test";
  await server.addUser(user, PASSWORD);
  const N = 16;
  const OPS = 25;
  let seed = 7;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
  const clients: ImapFlow[] = [];
  const locks: MailboxLockObject[] = [];
  try {
    for (let i = 0; i < N; i++) {
      const c = new ImapFlow({
        host: "127.0.0.1",
        port: server.ports.imaps,
        secure: true,
        tls: { ca: [server.caCert], servername: "localhost" },
        auth: { user, pass: PASSWORD },
        logger: false,
        qresync: i % 2 === 0, // half of them see VANISHED instead of EXPUNGE
      });
      await c.connect();
      clients.push(c);
      locks.push(await c.getMailboxLock("INBOX"));
    }
    await Promise.all(
      clients.map(async (c, i) => {
        for (let k = 0; k < OPS; k++) {
          const r = rnd();
          const exists = c.mailbox ? c.mailbox.exists : 0;
          if (r < 0.3 || exists < 3) await c.append("INBOX", sampleMessage(`s${i}-${k}`));
          else if (r < 0.5) for await (const m of c.fetch("1:*", { uid: true, flags: true, envelope: true })) assert.ok(m.uid > 0);
          else if (r < 0.65) await c.messageFlagsAdd("1:*", ["\\Seen"]);
          else if (r < 0.75) await c.messageDelete("1:2");
          else if (r < 0.85) await c.messageMove("1", "Archive");
          else if (r < 0.95) await c.search({ seen: false });
          else await c.noop();
        }
      }),
    );
    const { store } = server.services;
    const account = (await store.getAccount(user))!;
    const inbox = (await store.getMailbox(account.id, "INBOX"))!;
    const want = (await store.listMessages(inbox.id)).map((m) => m.uid);
    for (const c of clients) {
      await c.noop(); // take the pending updates
      const got: number[] = [];
      if (c.mailbox && c.mailbox.exists > 0) for await (const m of c.fetch("1:*", { uid: true })) got.push(m.uid);
      assert.equal(c.mailbox && c.mailbox.exists, want.length);
      assert.deepEqual(got, want);
    }
    assert.deepEqual(server.events().filter((e) => e.event === "session.error"), []);
  } finally {
    for (const l of locks) l.release();
    for (const c of clients) await c.logout().catch(() => undefined);
  }
});
