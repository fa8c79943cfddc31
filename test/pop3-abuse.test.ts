// End to end with a raw line client: hostile and unusual input against a real Portcullis.
// The 255-octet limit (a 5,000-byte PASS closes that connection; other clients are served),
// a connection destroyed after DELE deletes nothing, the pre-TLS refusals on the plain port,
// STLS command injection, pipelining, and RETR of a 50 MB message streamed intact in bounded memory.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import v8 from "node:v8";
import { runInNewContext } from "node:vm";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { RawPop3, putInInbox, runPython, sampleMessage } from "./fixtures/pop3-raw.js";

let server: TestServer;

before(async () => {
  server = await startTestServer();
});
after(async () => {
  await server?.stop();
});

async function inbox(address: string) {
  const { store } = server.services;
  const account = (await store.getAccount(address))!;
  const box = (await store.getMailbox(account.id, "INBOX"))!;
  return { box, uids: (await store.listMessages(box.id)).map((m) => m.uid) };
}

async function loginTls(address: string, password: string): Promise<RawPop3> {
  const c = await RawPop3.connect(server.ports.pop3s, { tls: { ca: server.caCert } });
  assert.equal(await c.line(), "+OK Portcullis POP3 ready");
  assert.equal(await c.cmd(`USER ${address}`), "+OK send PASS");
  assert.match((await c.cmd(`PASS ${password}`)) ?? "", /^\+OK maildrop has \d+ messages/);
  return c;
}

test("a 5,000-byte PASS gets '-ERR line too long' and the connection is closed; others are served", async () => {
  const address = "probe@example.test";
  const password = "Tr0ub4dor&3-probe";
  await server.addUser(address, password);
  await putInInbox(server, address, [sampleMessage("still here", ["x"], address)]);

  // over TLS, where PASS would otherwise be accepted
  const c = await RawPop3.connect(server.ports.pop3s, { tls: { ca: server.caCert } });
  assert.equal(await c.line(), "+OK Portcullis POP3 ready");
  assert.equal(await c.cmd(`USER ${address}`), "+OK send PASS");
  c.send("PASS " + "a".repeat(5000) + "\r\nNOOP\r\n");
  assert.equal(await c.line(), "-ERR line too long");
  assert.equal(await c.closedByServer(), "", "nothing after the error: the NOOP is never run");

  // and on the plain port before TLS
  const p = await RawPop3.connect(server.ports.pop3);
  assert.equal(await p.line(), "+OK Portcullis POP3 ready");
  p.send("PASS " + "a".repeat(5000) + "\r\n");
  assert.equal(await p.line(), "-ERR line too long");
  await p.closedByServer();

  // a line of exactly 255 octets with CRLF is still a command (RFC 2449 §4)
  const q = await RawPop3.connect(server.ports.pop3s, { tls: { ca: server.caCert } });
  await q.line();
  assert.equal(await q.cmd("USER " + "u".repeat(255 - 2 - 5)), "+OK send PASS");
  assert.equal(await q.cmd("QUIT"), "+OK Portcullis POP3 signing off");

  assert.ok(server.events().some((e) => e.event === "input.too_long"));
  // the server is fine: a real client logs in and reads the mail
  const out = await runPython(
    `
import poplib, ssl, os
ctx = ssl.create_default_context(cafile=os.environ["CA"])
p = poplib.POP3_SSL("127.0.0.1", int(os.environ["PORT"]), context=ctx, timeout=10)
p.user(os.environ["U"]); p.pass_(os.environ["P"])
print(p.stat()[0]); p.quit()
`,
    { CA: server.certFile, PORT: String(server.ports.pop3s), U: address, P: password },
  );
  assert.equal(out.trim(), "1");
});

test("a connection destroyed after DELE deletes nothing", async () => {
  const address = "broken@example.test";
  const password = "Tr0ub4dor&3-broken";
  await server.addUser(address, password);
  await putInInbox(server, address, [sampleMessage("a", ["1"], address), sampleMessage("b", ["2"], address)]);
  const c = await loginTls(address, password);
  assert.equal(await c.cmd("DELE 1"), "+OK message 1 deleted");
  assert.equal(await c.cmd("DELE 2"), "+OK message 2 deleted");
  c.destroy();

  // once the server has seen the connection go, the maildrop is unlocked and intact
  let status = "";
  for (let i = 0; i < 50; i++) {
    const d = await RawPop3.connect(server.ports.pop3s, { tls: { ca: server.caCert } });
    await d.line();
    await d.cmd(`USER ${address}`);
    status = (await d.cmd(`PASS ${password}`)) ?? "";
    await d.cmd("QUIT");
    if (!status.includes("IN-USE")) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.match(status, /^\+OK maildrop has 2 messages/);
  assert.deepEqual((await inbox(address)).uids, [1, 2]);
  assert.ok(!server.events().some((e) => e.event === "pop3.update" && e.account === address && e.deleted !== 0));
});

test("before TLS on the plain port: USER, PASS and AUTH are refused; CAPA offers STLS only", async () => {
  const c = await RawPop3.connect(server.ports.pop3);
  assert.equal(await c.line(), "+OK Portcullis POP3 ready");
  assert.equal(await c.cmd("CAPA"), "+OK capability list follows");
  const caps = await c.multiline();
  assert.ok(caps.includes("STLS"));
  assert.ok(!caps.includes("USER"));
  assert.ok(!caps.some((l) => l.startsWith("SASL")));
  const refusal = "-ERR [AUTH] plaintext authentication disallowed: use STLS or port 995";
  assert.equal(await c.cmd("USER alice@example.test"), refusal);
  assert.equal(await c.cmd("PASS secret"), refusal);
  assert.equal(await c.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA=="), refusal);
  assert.equal(await c.cmd("NOOP"), "+OK");
  assert.equal(await c.cmd("STAT"), "-ERR STAT not allowed in AUTHORIZATION state");
  assert.equal(await c.cmd("QUIT"), "+OK Portcullis POP3 signing off");
  await c.closedByServer();
});

test("STLS injection: commands pipelined behind STLS are not executed", async () => {
  const address = "inject@example.test";
  const password = "Tr0ub4dor&3-inject";
  await server.addUser(address, password);
  const c = await RawPop3.connect(server.ports.pop3);
  await c.line();
  c.send(`STLS\r\nUSER ${address}\r\nPASS ${password}\r\n`);
  assert.equal(await c.line(), "+OK begin TLS negotiation");
  await c.upgrade(server.caCert);
  // nothing of what was pipelined runs: the session refuses to continue
  assert.equal(await c.line(), "-ERR commands sent before the TLS handshake were discarded");
  await c.closedByServer();
  assert.ok(!server.events().some((e) => e.event === "auth.success" && e.account === address));
  assert.ok(server.events().some((e) => e.event === "tls.starttls.discarded"));
});

test("STLS then AUTH PLAIN with an initial response, and pipelined commands answered in order", async () => {
  const address = "pipe@example.test";
  const password = "Tr0ub4dor&3-pipe";
  await server.addUser(address, password);
  await putInInbox(server, address, [sampleMessage("p1", ["a"], address), sampleMessage("p2", ["b"], address)]);
  const c = await RawPop3.connect(server.ports.pop3);
  await c.line();
  assert.equal(await c.cmd("STLS"), "+OK begin TLS negotiation");
  await c.upgrade(server.caCert);
  const ir = Buffer.from(`\0${address}\0${password}`).toString("base64");
  assert.match((await c.cmd(`AUTH PLAIN ${ir}`)) ?? "", /^\+OK maildrop has 2 messages/);
  // RFC 2449 §6.6 PIPELINING: a batch of commands, replies in order
  c.send("STAT\r\nLIST 1\r\nUIDL 2\r\nNOOP\r\nBOGUS\r\nDELE 9\r\nQUIT\r\n");
  const { box } = await inbox(address);
  const expected = [/^\+OK 2 \d+$/, /^\+OK 1 \d+$/, new RegExp(`^\\+OK 2 ${box.uidValidity}\\.2$`), /^\+OK$/, /^-ERR unknown command$/, /^-ERR no such message/, /^\+OK Portcullis POP3 signing off/];
  for (const re of expected) assert.match((await c.line()) ?? "<closed>", re);
  await c.closedByServer();
});

test("RETR of a 50 MB message streams it intact and byte-stuffed, without holding it in memory", async (t) => {
  const address = "big@example.test";
  const password = "Tr0ub4dor&3-big";
  await server.addUser(address, password);
  const line = ".starts with a dot " + "x".repeat(60);
  const lines = Array.from({ length: Math.ceil((50 * 1024 * 1024) / (line.length + 2)) }, () => line);
  let message: Buffer | null = sampleMessage("big", lines, address);
  const size = message.length;
  const digest = createHash("sha256").update(message).digest("hex");
  await putInInbox(server, address, [message]);
  message = null; // from here on, nothing in this process holds the message whole
  const c = await loginTls(address, password);

  // Server and client share this process: sample its live memory (after a full GC, so garbage
  // does not count) while the message streams through.
  v8.setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  const mem = () => {
    gc();
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  const base = mem();
  let peak = base;
  const sampler = setInterval(() => (peak = Math.max(peak, mem())), 100);
  try {
    c.send("RETR 1\r\n");
    assert.equal(await c.line(), `+OK ${size} octets`);
    const hash = createHash("sha256");
    let received = 0;
    for (;;) {
      const l = await c.line(30_000);
      assert.ok(l !== null, "connection closed mid-message");
      if (l === ".") break;
      if (l.startsWith(".")) assert.ok(l.startsWith(".."), "every line starting with a dot is stuffed");
      const unstuffed = l.startsWith(".") ? l.slice(1) : l;
      hash.update(unstuffed + "\r\n");
      received += unstuffed.length + 2;
    }
    assert.equal(received, size);
    assert.equal(hash.digest("hex"), digest);
  } finally {
    clearInterval(sampler);
  }
  const grew = peak - base;
  t.diagnostic(`memory growth during RETR of ${(size / 1048576).toFixed(1)} MiB: ${(grew / 1048576).toFixed(1)} MiB`);
  assert.ok(grew < 16 * 1024 * 1024, `live memory grew by ${grew} bytes while streaming ${size}`);
  assert.equal(await c.cmd("QUIT"), "+OK Portcullis POP3 signing off (0 messages deleted, 1 left)");
});
