// End to end: mail delivered by SMTP (nodemailer to the MX listener, and swaks) is downloaded
// over POP3 by Python's poplib and deleted; the store and an IMAP client show the deletion.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import nodemailer from "nodemailer";
import { ImapFlow } from "imapflow";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { runProgram, runPython } from "./fixtures/pop3-raw.js";

let server: TestServer;

before(async () => {
  server = await startTestServer();
});
after(async () => {
  await server?.stop();
});

async function inboxUids(address: string): Promise<number[]> {
  const { store } = server.services;
  const account = (await store.getAccount(address))!;
  const inbox = (await store.getMailbox(account.id, "INBOX"))!;
  return (await store.listMessages(inbox.id)).map((m) => m.uid);
}

async function waitForMessages(address: string, n: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if ((await inboxUids(address)).length >= n) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${address}: ${n} messages did not arrive`);
}

test("mail delivered by SMTP is downloaded over POP3 and deleted", async () => {
  const address = "smtp2pop@example.test";
  const password = "Tr0ub4dor&3-smtp2pop";
  await server.addUser(address, password);

  const transport = nodemailer.createTransport({
    host: "127.0.0.1",
    port: server.ports.smtp,
    secure: false,
    tls: { ca: server.caCert, servername: "localhost" },
    name: "client.sender.example",
  });
  try {
    await transport.sendMail({
      from: "someone@sender.example",
      to: address,
      subject: "delivered by SMTP",
      text: "first line\n.line starting with a dot\nlast line\n",
    });
  } finally {
    transport.close();
  }
  const swaks = await runProgram("swaks", ["--server", `127.0.0.1:${server.ports.smtp}`, "--to", address, "--from", "other@sender.example", "--header", "Subject: via swaks", "--body", "swaks body", "--helo", "client.sender.example"], "");
  assert.equal(swaks.code, 0, swaks.stdout + swaks.stderr);
  await waitForMessages(address, 2);

  const out = await runPython(
    `
import json, os, poplib, ssl
ctx = ssl.create_default_context(cafile=os.environ["CA"])
p = poplib.POP3("127.0.0.1", int(os.environ["PORT"]), timeout=10)
p.stls(ctx)
p.user(os.environ["U"]); p.pass_(os.environ["P"])
n, size = p.stat()
msgs = []
listed = 0
for num, octets in (l.split() for l in p.list()[1]):
    resp, lines, got = p.retr(int(num))
    text = b"\\r\\n".join(lines) + b"\\r\\n"
    msgs.append({"listed": int(octets), "received": len(text), "text": text.decode("utf-8", "replace")})
    p.dele(int(num))
p.quit()
print(json.dumps({"n": n, "size": size, "msgs": msgs}))
`,
    { CA: server.certFile, PORT: String(server.ports.pop3), U: address, P: password },
  );
  const r = JSON.parse(out) as { n: number; size: number; msgs: Array<{ listed: number; received: number; text: string }> };
  assert.equal(r.n, 2);
  assert.equal(r.size, r.msgs.reduce((t, m) => t + m.listed, 0));
  for (const m of r.msgs) assert.equal(m.received, m.listed, "LIST size is the exact octet count the client receives");
  const first = r.msgs.find((m) => m.text.includes("Subject: delivered by SMTP"));
  assert.ok(first, "the nodemailer message was downloaded");
  assert.match(first.text, /^Received: /m);
  assert.match(first.text, /\r\n\.line starting with a dot\r\n/);
  assert.ok(r.msgs.some((m) => m.text.includes("Subject: via swaks")));
  assert.deepEqual(await inboxUids(address), []);

  // and an IMAP client sees the empty INBOX
  const imap = new ImapFlow({ host: "127.0.0.1", port: server.ports.imaps, secure: true, tls: { ca: [server.caCert], servername: "localhost" }, auth: { user: address, pass: password }, logger: false });
  await imap.connect();
  try {
    const status = await imap.status("INBOX", { messages: true });
    assert.ok(status, "STATUS answered");
    assert.equal(status.messages, 0);
  } finally {
    await imap.logout();
  }
});
