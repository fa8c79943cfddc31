// End to end with imapflow (npm), a client nobody here wrote: STARTTLS on the plain port and
// implicit TLS, special-use folders, mailbox management (including INBOX rename), APPEND, FETCH
// (ENVELOPE, BODYSTRUCTURE, partial BODY[]), SEARCH, STORE, COPY, MOVE, EXPUNGE, QUOTA, and two
// sessions with IDLE seeing mail delivered by SMTP and by APPEND within one second.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { ImapFlow } from "imapflow";
import nodemailer from "nodemailer";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { PASSWORD, sampleMessage } from "./imap-helpers.js";

let server: TestServer;

before(async () => {
  server = await startTestServer();
});
after(async () => {
  await server?.stop();
});

/** STATUS through imapflow; fails the test when the server refused it. */
async function status(c: ImapFlow, path: string): Promise<{ messages: number; uidNext: number }> {
  const st = await c.status(path, { messages: true, uidNext: true });
  assert.ok(st, `STATUS ${path} failed`);
  return { messages: st.messages ?? -1, uidNext: st.uidNext ?? -1 };
}

function client(user: string, o: { starttls?: boolean; pass?: string } = {}): ImapFlow {
  return new ImapFlow({
    host: "127.0.0.1",
    port: o.starttls ? server.ports.imap : server.ports.imaps,
    secure: !o.starttls,
    doSTARTTLS: o.starttls ? true : undefined,
    tls: { ca: [server.caCert], servername: "localhost" },
    auth: { user, pass: o.pass ?? PASSWORD },
    logger: process.env.IMAP_DEBUG ? { debug: (m: object) => console.log(JSON.stringify(m).slice(0, 200)), info: () => {}, warn: () => {}, error: () => {} } : false,
  });
}

test("imapflow over STARTTLS: special-use folders and mailbox management", async () => {
  const user = "flow-mgmt@example.test";
  await server.addUser(user, PASSWORD);
  const c = client(user, { starttls: true });
  await c.connect();
  try {
    const list = await c.list();
    // The attributes as the server sent them (imapflow also guesses \Inbox on its own).
    const uses = ["\\Sent", "\\Drafts", "\\Trash", "\\Junk", "\\Archive"];
    const byUse = Object.fromEntries(list.flatMap((m) => uses.filter((u) => m.flags.has(u)).map((u) => [u, m.path])));
    assert.deepEqual(byUse, { "\\Sent": "Sent", "\\Drafts": "Drafts", "\\Trash": "Trash", "\\Junk": "Junk", "\\Archive": "Archive" });

    await c.mailboxCreate("Projects/2026");
    await c.mailboxCreate("Ünïcode");
    let paths = (await c.list()).map((m) => m.path);
    assert.ok(paths.includes("Projects") && paths.includes("Projects/2026") && paths.includes("Ünïcode"), paths.join(","));
    const projects = (await c.list()).find((m) => m.path === "Projects")!;
    assert.ok(projects.flags.has("\\HasChildren"));

    await c.mailboxRename("Projects", "Work");
    paths = (await c.list()).map((m) => m.path);
    assert.ok(paths.includes("Work/2026") && !paths.includes("Projects/2026"), paths.join(","));
    await c.mailboxDelete("Work/2026");
    assert.ok(!(await c.list()).some((m) => m.path === "Work/2026"));

    // RFC 9051 §6.3.6: renaming INBOX moves its messages to the new name and leaves INBOX empty.
    await c.append("INBOX", sampleMessage("first"));
    await c.append("INBOX", sampleMessage("second"));
    await c.mailboxRename("INBOX", "Old Inbox");
    const inbox = await status(c, "INBOX");
    const old = await status(c, "Old Inbox");
    assert.equal(inbox.messages, 0);
    assert.equal(old.messages, 2);
  } finally {
    await c.logout();
  }
});

test("imapflow: APPEND, FETCH, SEARCH, STORE, COPY, MOVE, EXPUNGE", async () => {
  const user = "flow-msgs@example.test";
  await server.addUser(user, PASSWORD);
  const c = client(user);
  await c.connect();
  try {
    const big = "0123456789".repeat(5000) + "\r\n";
    const multipart =
      "From: Carol <carol@example.org>\r\nTo: alice@example.test\r\nSubject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\r\n" +
      "Date: Mon, 23 Nov 2026 08:00:00 +0100\r\nMIME-Version: 1.0\r\n" +
      'Content-Type: multipart/mixed; boundary="XX"\r\n\r\n' +
      "--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nthe text part\r\n" +
      '--XX\r\nContent-Type: application/octet-stream; name="a.bin"\r\nContent-Transfer-Encoding: base64\r\n' +
      'Content-Disposition: attachment; filename="a.bin"\r\n\r\nAAECAwQ=\r\n--XX--\r\n';
    const a1 = await c.append("INBOX", sampleMessage("plain one", big), ["\\Flagged"], new Date("2026-01-02T03:04:05Z"));
    const a2 = await c.append("INBOX", multipart);
    assert.ok(a1 && a2);
    assert.equal(a1.uid, 1);
    assert.equal(a2.uid, 2);

    const lock = await c.getMailboxLock("INBOX");
    try {
      const m1 = await c.fetchOne("1", { envelope: true, bodyStructure: true, flags: true, internalDate: true, size: true, uid: true });
      assert.ok(m1);
      assert.equal(m1.envelope?.subject, "plain one");
      assert.equal(m1.envelope?.from?.[0]?.address, "bob@example.org");
      assert.equal(m1.envelope?.from?.[0]?.name, "Bob Sender");
      assert.ok(m1.flags?.has("\\Flagged"));
      assert.equal(new Date(m1.internalDate as Date).toISOString(), "2026-01-02T03:04:05.000Z");
      assert.equal(m1.bodyStructure?.type, "text/plain");
      assert.equal(m1.size, Buffer.byteLength(sampleMessage("plain one", big)));

      const m2 = await c.fetchOne("2", { envelope: true, bodyStructure: true });
      assert.ok(m2);
      assert.equal(m2.envelope?.subject, "Grüße");
      assert.equal(m2.bodyStructure?.type, "multipart/mixed");
      assert.equal(m2.bodyStructure?.childNodes?.length, 2);
      assert.equal(m2.bodyStructure?.childNodes?.[1]?.type, "application/octet-stream");
      assert.equal(m2.bodyStructure?.childNodes?.[1]?.disposition, "attachment");

      // Partial BODY[] (streamed range) and a part body; both with PEEK so \Seen stays unset.
      const part = await c.fetchOne("1", { bodyParts: ["TEXT"], source: { start: 6, maxLength: 9 } });
      assert.ok(part);
      assert.equal(part.source?.toString(), "Bob Sende");
      assert.equal(part.bodyParts?.get("text")?.toString(), big);
      const bin = await c.download("2", "2", { uid: false });
      const chunks: Buffer[] = [];
      assert.ok(bin.content);
      for await (const ch of bin.content) chunks.push(ch as Buffer);
      assert.deepEqual(Buffer.concat(chunks), Buffer.from([0, 1, 2, 3, 4]));
      const flags = await c.fetchOne("1", { flags: true });
      assert.ok(flags && !flags.flags?.has("\\Seen"));

      // SEARCH on header, body text, flags and dates.
      assert.deepEqual(await c.search({ subject: "grüße" }, { uid: true }), [2]);
      assert.deepEqual(await c.search({ body: "the text part" }, { uid: true }), [2]);
      assert.deepEqual(await c.search({ flagged: true }, { uid: true }), [1]);
      assert.deepEqual(await c.search({ larger: 40000 }, { uid: true }), [1]);
      assert.deepEqual(await c.search({ sentBefore: new Date("2026-11-23T00:00:00Z") }, { uid: true }), [1]);

      // STORE
      assert.equal(await c.messageFlagsAdd("2", ["\\Seen", "$Important"], { uid: true }), true);
      const f2 = await c.fetchOne("2", { flags: true });
      assert.ok(f2 && f2.flags?.has("\\Seen") && f2.flags.has("$Important"));
      assert.deepEqual(await c.search({ keyword: "$Important" }, { uid: true }), [2]);

      // COPY (COPYUID) and MOVE
      const copied = await c.messageCopy("1:2", "Archive", { uid: true });
      assert.ok(copied);
      assert.deepEqual([...(copied.uidMap ?? new Map()).entries()], [[1, 1], [2, 2]]);
      const moved = await c.messageMove("1", "Trash", { uid: true });
      assert.ok(moved);
      assert.deepEqual([...(moved.uidMap ?? new Map()).entries()], [[1, 1]]);
      assert.equal(c.mailbox && c.mailbox.exists, 1);

      // EXPUNGE via \Deleted
      assert.equal(await c.messageDelete("2", { uid: true }), true);
      assert.equal(c.mailbox && c.mailbox.exists, 0);
    } finally {
      lock.release();
    }
    assert.equal((await status(c, "Archive")).messages, 2);
    assert.equal((await status(c, "Trash")).messages, 1);
    assert.equal((await status(c, "INBOX")).uidNext, 3);
  } finally {
    await c.logout();
  }
});

test("imapflow: QUOTA is reported and APPEND over quota is refused with OVERQUOTA", async () => {
  const user = "flow-quota@example.test";
  const account = await server.addUser(user, PASSWORD);
  await server.services.store.setQuota(account.id, 10 * 1024);
  const c = client(user);
  await c.connect();
  try {
    await c.append("INBOX", sampleMessage("small"));
    const q = await c.getQuota("INBOX");
    assert.ok(q && q.storage);
    assert.equal(q.storage.limit, 10 * 1024);
    assert.ok((q.storage.usage ?? 0) > 0);
    await assert.rejects(c.append("INBOX", sampleMessage("too big", "x".repeat(20 * 1024) + "\r\n")), (e: Error & { serverResponseCode?: string }) => {
      assert.equal(e.serverResponseCode, "OVERQUOTA");
      return true;
    });
    assert.equal((await status(c, "INBOX")).messages, 1);
  } finally {
    await c.logout();
  }
});

test("two sessions: an IDLE session sees SMTP delivery and another session's APPEND within 1 s", async () => {
  const user = "flow-idle@example.test";
  await server.addUser(user, PASSWORD);
  const watcher = client(user);
  const writer = client(user);
  await watcher.connect();
  await writer.connect();
  try {
    const lock = await watcher.getMailboxLock("INBOX");
    const seen: Array<{ count: number; at: number }> = [];
    watcher.on("exists", (e: { count: number }) => seen.push({ count: e.count, at: Date.now() }));
    const idling = watcher.idle();
    await new Promise((r) => setTimeout(r, 200)); // let IDLE start

    const sentAt = Date.now();
    const transport = nodemailer.createTransport({
      host: "127.0.0.1",
      port: server.ports.smtp,
      secure: false,
      tls: { ca: server.caCert, servername: "localhost" },
      name: "client.sender.example",
    });
    try {
      await transport.sendMail({ from: "someone@sender.example", to: user, subject: "pushed by SMTP", text: "hello idle\n" });
    } finally {
      transport.close();
    }
    const deadline = Date.now() + 1000;
    while (seen.length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(seen.length, 1, "EXISTS pushed to the IDLE session");
    assert.equal(seen[0]!.count, 1);
    assert.ok(seen[0]!.at - sentAt < 1000, `delivered and announced in ${seen[0]!.at - sentAt} ms`);

    const appendAt = Date.now();
    await writer.append("INBOX", sampleMessage("from the other session"));
    while (seen.length < 2 && Date.now() < appendAt + 1000) await new Promise((r) => setTimeout(r, 20));
    assert.equal(seen.length, 2);
    assert.equal(seen[1]!.count, 2);
    assert.ok(seen[1]!.at - appendAt < 1000);

    // The IDLE session can then read what SMTP delivered (parsed once, on first FETCH).
    const m = await watcher.fetchOne("1", { envelope: true, bodyStructure: true });
    assert.ok(m);
    assert.equal(m.envelope?.subject, "pushed by SMTP");
    assert.equal(m.bodyStructure?.type, "text/plain");
    lock.release();
    await idling.catch(() => undefined);
  } finally {
    await writer.logout();
    await watcher.logout();
  }
});

test("imapflow: BODY and TEXT search see through base64, quoted-printable and charsets", async () => {
  const user = "flow-search@example.test";
  await server.addUser(user, PASSWORD);
  const c = client(user);
  await c.connect();
  try {
    const b64 = Buffer.from("Das Geheimnis liegt im Garten.\r\n").toString("base64");
    await c.append("INBOX", `Subject: b64\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64}\r\n`);
    await c.append("INBOX", "Subject: qp\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nViele Gr=FC=DFe aus K=F6ln\r\n");
    await c.append("INBOX", "Subject: =?UTF-8?B?w5xiZXJyYXNjaHVuZw==?=\r\n\r\nnothing here\r\n");
    const lock = await c.getMailboxLock("INBOX");
    try {
      assert.deepEqual(await c.search({ body: "geheimnis" }, { uid: true }), [1]);
      assert.deepEqual(await c.search({ body: "grüße aus köln" }, { uid: true }), [2]);
      assert.deepEqual(await c.search({ text: "überraschung" }, { uid: true }), [3]);
      assert.deepEqual(await c.search({ body: "überraschung" }, { uid: true }), []);
      assert.deepEqual(await c.search({ or: [{ body: "garten" }, { subject: "qp" }] }, { uid: true }), [1, 2]);
    } finally {
      lock.release();
    }
  } finally {
    await c.logout();
  }
});
