// End to end with curl's imap/imaps URLs and Debian's mbsync (isync): curl fetches a message by
// UID over STARTTLS (--ssl-reqd) and over implicit TLS, lists mailboxes, searches and uploads
// (APPEND); mbsync syncs a mailbox both ways with a local Maildir (new messages each way, flag
// changes, a server-side expunge, a new folder created on the server).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, mkdir, readdir, rename, rm, writeFile, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { runProgram } from "./fixtures/pop3-raw.js";
import { PASSWORD, sampleMessage } from "./imap-helpers.js";

let server: TestServer;
let tmp: string;

before(async () => {
  server = await startTestServer();
  tmp = await mkdtemp(join(tmpdir(), "portcullis-imap-sync-"));
});
after(async () => {
  await server?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

async function appendTo(address: string, mailbox: string, body: string, flags: string[] = []): Promise<number> {
  const { store } = server.services;
  const account = (await store.getAccount(address))!;
  const mb = (await store.getMailbox(account.id, mailbox))!;
  return (await store.appendMessage(mb.id, { body: Buffer.from(body), flags })).uid;
}

async function serverMessages(address: string, mailbox: string) {
  const { store } = server.services;
  const account = (await store.getAccount(address))!;
  const mb = await store.getMailbox(account.id, mailbox);
  if (!mb) return null;
  return store.listMessages(mb.id);
}

test("curl: fetch by UID over STARTTLS and imaps, LIST, SEARCH, APPEND (upload)", async () => {
  const user = "curl-user@example.test";
  await server.addUser(user, PASSWORD);
  // Stored without a parsed structure, as SMTP delivery does: the session parses it on demand.
  await appendTo(user, "INBOX", sampleMessage("for curl", "curl body line\r\n"));
  const common = ["-s", "--cacert", server.certFile, "-u", `${user}:${PASSWORD}`];

  const plain = await runProgram("curl", [...common, "--ssl-reqd", `imap://127.0.0.1:${server.ports.imap}/INBOX;UID=1`], "");
  assert.equal(plain.code, 0, plain.stderr);
  assert.equal(plain.stdout, sampleMessage("for curl", "curl body line\r\n"));

  const implicit = await runProgram("curl", [...common, `imaps://127.0.0.1:${server.ports.imaps}/INBOX;UID=1;SECTION=TEXT`], "");
  assert.equal(implicit.code, 0, implicit.stderr);
  assert.equal(implicit.stdout, "curl body line\r\n");

  const list = await runProgram("curl", [...common, `imaps://127.0.0.1:${server.ports.imaps}/`], "");
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /^\* LIST \(\\HasNoChildren \\Sent\) "\/" Sent\r$/m);

  const search = await runProgram("curl", [...common, `imaps://127.0.0.1:${server.ports.imaps}/INBOX?SUBJECT%20curl`], "");
  assert.equal(search.code, 0, search.stderr);
  assert.match(search.stdout, /^\* SEARCH 1\r$/m);

  const file = join(tmp, "upload.eml");
  await writeFile(file, sampleMessage("uploaded by curl"));
  const up = await runProgram("curl", [...common, "-T", file, `imaps://127.0.0.1:${server.ports.imaps}/Drafts`], "");
  assert.equal(up.code, 0, up.stderr);
  const drafts = (await serverMessages(user, "Drafts"))!;
  assert.equal(drafts.length, 1);

  // Without --ssl-reqd curl would log in in clear; the server refuses LOGIN before STARTTLS.
  const clear = await runProgram("curl", ["-s", "-u", `${user}:${PASSWORD}`, "--login-options", "AUTH=*", `imap://127.0.0.1:${server.ports.imap}/INBOX;UID=1`], "");
  assert.notEqual(clear.code, 0);
});

async function maildirFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const sub of ["cur", "new"]) {
    for (const f of await readdir(join(dir, sub)).catch(() => [] as string[])) out.push(join(dir, sub, f));
  }
  return out;
}

test("mbsync syncs a mailbox both ways with a local Maildir", async () => {
  const user = "mbsync-user@example.test";
  await server.addUser(user, PASSWORD);
  await appendTo(user, "INBOX", sampleMessage("server one"));
  await appendTo(user, "INBOX", sampleMessage("server two"), ["\\Flagged"]);

  const local = join(tmp, "maildir");
  await mkdir(join(local, "INBOX", "new"), { recursive: true });
  await mkdir(join(local, "INBOX", "cur"), { recursive: true });
  await mkdir(join(local, "INBOX", "tmp"), { recursive: true });
  await writeFile(join(local, "INBOX", "new", "1700000000.1.localhost"), sampleMessage("local one").replace(/\r\n/g, "\n"));
  const conf = join(tmp, "mbsyncrc");
  await writeFile(
    conf,
    [
      "IMAPAccount portcullis",
      "Host localhost",
      `Port ${server.ports.imaps}`,
      `User ${user}`,
      `Pass ${PASSWORD}`,
      "SSLType IMAPS",
      `CertificateFile ${server.certFile}`,
      "",
      "IMAPStore remote",
      "Account portcullis",
      "",
      "MaildirStore local",
      `Path ${local}/`,
      `Inbox ${local}/INBOX`,
      "SubFolders Verbatim",
      "",
      "Channel sync",
      "Far :remote:",
      "Near :local:",
      "Patterns INBOX Work",
      "Create Both",
      "Expunge Both",
      "SyncState *",
      "",
    ].join("\n"),
    { mode: 0o600 },
  );
  const mbsync = async () => {
    const r = await runProgram("mbsync", ["-c", conf, "-a"], "", { HOME: tmp }, 60_000);
    assert.equal(r.code, 0, `mbsync failed\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  };

  await mbsync();
  // Server -> local: both messages, the flag as a Maildir "F" info flag.
  let files = await maildirFiles(join(local, "INBOX"));
  assert.equal(files.length, 3, files.join("\n"));
  const texts = await Promise.all(files.map(async (f) => ({ f, t: await readFile(f, "utf8") })));
  const two = texts.find((x) => x.t.includes("Subject: server two"))!;
  assert.match(two.f, /:2,[A-Z]*F/);
  // Local -> server: the local message was appended.
  let inbox = (await serverMessages(user, "INBOX"))!;
  assert.equal(inbox.length, 3);

  // Local change: mark "server one" seen; server change: expunge "server two"; a new server folder.
  const one = texts.find((x) => x.t.includes("Subject: server one"))!;
  const base = one.f.replace(/\/new\//, "/cur/").replace(/:2,.*$/, "");
  await rename(one.f, `${base}:2,S`);
  const { store } = server.services;
  const account = (await store.getAccount(user))!;
  const inboxBox = (await store.getMailbox(account.id, "INBOX"))!;
  const twoUid = inbox.find((m) => m.flags.includes("\\Flagged"))!.uid;
  await store.expunge(inboxBox.id, [twoUid]);
  const work = await store.createMailbox(account.id, "Work");
  await store.appendMessage(work.id, { body: Buffer.from(sampleMessage("in work")) });

  await mbsync();
  inbox = (await serverMessages(user, "INBOX"))!;
  assert.equal(inbox.length, 2);
  const oneOnServer = inbox.find((m) => m.uid === 1)!;
  assert.ok(oneOnServer.flags.includes("\\Seen"), JSON.stringify(oneOnServer.flags));
  files = await maildirFiles(join(local, "INBOX"));
  assert.equal(files.length, 2, files.join("\n"));
  const workFiles = await maildirFiles(join(local, "Work"));
  assert.equal(workFiles.length, 1);
  assert.match(await readFile(workFiles[0]!, "utf8"), /Subject: in work/);
});
