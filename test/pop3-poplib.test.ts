// End to end: Python's poplib against a real Portcullis over loopback. STLS on the plain port
// and implicit TLS on pop3s; download and delete (checked in the store, without IMAP); the
// pre-TLS refusals; TOP, RSET, UIDL stability across sessions; the IN-USE maildrop lock.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { putInInbox, runPython, sampleMessage } from "./fixtures/pop3-raw.js";

let server: TestServer;

before(async () => {
  server = await startTestServer();
});
after(async () => {
  await server?.stop();
});

/** Python prelude: connection settings from the environment, JSON out. */
const PRELUDE = `
import json, os, poplib, ssl, sys
HOST = "127.0.0.1"
PORT = int(os.environ["POP_PORT"])
PORTS = int(os.environ["POP_PORTS"])
USER = os.environ["POP_USER"]
PASSWORD = os.environ["POP_PASS"]
ctx = ssl.create_default_context(cafile=os.environ["POP_CA"])
def err(e):
    return e.args[0].decode() if isinstance(e.args[0], bytes) else str(e.args[0])
out = {}
`;

function env(user: string, password: string): Record<string, string> {
  return {
    POP_PORT: String(server.ports.pop3),
    POP_PORTS: String(server.ports.pop3s),
    POP_USER: user,
    POP_PASS: password,
    POP_CA: server.certFile,
  };
}

async function py<T>(code: string, user: string, password: string): Promise<T> {
  const stdout = await runPython(PRELUDE + code, env(user, password));
  return JSON.parse(stdout.trim().split("\n").pop()!) as T;
}

async function inboxUids(address: string): Promise<number[]> {
  const { store } = server.services;
  const account = (await store.getAccount(address))!;
  const inbox = (await store.getMailbox(account.id, "INBOX"))!;
  return (await store.listMessages(inbox.id)).map((m) => m.uid);
}

test("poplib: USER before STLS is refused, then STLS, download every message and delete it", async () => {
  const address = "dl@example.test";
  await server.addUser(address, "Tr0ub4dor&3-download");
  const messages = [
    sampleMessage("first", ["Hello,", ".a line starting with a dot", ".", "bye"], address),
    sampleMessage("second", ["short"], address),
  ];
  await putInInbox(server, address, messages);

  const r = await py<{
    welcome: string;
    capaBefore: string[];
    userBeforeTls: string;
    passBeforeTls: string;
    capaAfter: string[];
    sasl: string[];
    stat: [number, number];
    list: string[];
    bodies: string[];
    quit: string;
  }>(
    `
p = poplib.POP3(HOST, PORT, timeout=10)
out["welcome"] = p.getwelcome().decode()
out["capaBefore"] = sorted(p.capa().keys())
try:
    p.user(USER); out["userBeforeTls"] = "accepted"
except poplib.error_proto as e:
    out["userBeforeTls"] = err(e)
try:
    p.pass_(PASSWORD); out["passBeforeTls"] = "accepted"
except poplib.error_proto as e:
    out["passBeforeTls"] = err(e)
p.stls(ctx)
caps = p.capa()
out["capaAfter"] = sorted(caps.keys())
out["sasl"] = caps.get("SASL", [])
p.user(USER)
p.pass_(PASSWORD)
out["stat"] = list(p.stat())
resp, listing, _ = p.list()
out["list"] = [l.decode() for l in listing]
out["bodies"] = []
for i in range(1, out["stat"][0] + 1):
    resp, lines, octets = p.retr(i)
    out["bodies"].append(b"\\r\\n".join(lines).decode() + "\\r\\n")
for i in range(1, out["stat"][0] + 1):
    p.dele(i)
out["quit"] = p.quit().decode()
print(json.dumps(out))
`,
    address,
    "Tr0ub4dor&3-download",
  );

  assert.equal(r.welcome, "+OK Portcullis POP3 ready");
  assert.ok(r.capaBefore.includes("STLS"));
  assert.ok(!r.capaBefore.includes("USER"), "USER is not advertised before TLS");
  assert.ok(!r.capaBefore.includes("SASL"), "SASL is not advertised before TLS");
  assert.equal(r.userBeforeTls, "-ERR [AUTH] plaintext authentication disallowed: use STLS or port 995");
  assert.equal(r.passBeforeTls, "-ERR [AUTH] plaintext authentication disallowed: use STLS or port 995");
  assert.ok(!r.capaAfter.includes("STLS"));
  assert.ok(r.capaAfter.includes("USER"));
  for (const c of ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "EXPIRE", "IMPLEMENTATION"]) assert.ok(r.capaAfter.includes(c), c);
  assert.ok(r.sasl.includes("PLAIN") && r.sasl.includes("SCRAM-SHA-256"), r.sasl.join(" "));
  const total = messages.reduce((n, m) => n + m.length, 0);
  assert.deepEqual(r.stat, [2, total]);
  assert.deepEqual(r.list, [`1 ${messages[0]!.length}`, `2 ${messages[1]!.length}`]);
  assert.deepEqual(r.bodies, messages.map((m) => m.toString()));
  assert.match(r.quit, /^\+OK/);
  // The deletion happened in the store (no IMAP needed to see it).
  assert.deepEqual(await inboxUids(address), []);
  const update = server.events().find((e) => e.event === "pop3.update" && e.account === address);
  assert.ok(update, "pop3.update is logged");
  assert.equal(update.deleted, 2);
});

test("poplib over pop3s: TOP, DELE then RSET keeps everything, UIDL stable across sessions", async () => {
  const address = "top@example.test";
  const password = "Tr0ub4dor&3-top-rset";
  await server.addUser(address, password);
  await putInInbox(server, address, [
    sampleMessage("one", ["line 1", "line 2", "line 3", "line 4"], address),
    sampleMessage("two", [".dot first", "x"], address),
    sampleMessage("three", ["z"], address),
  ]);
  const code = `
p = poplib.POP3_SSL(HOST, PORTS, context=ctx, timeout=10)
p.user(USER)
p.pass_(PASSWORD)
resp, lines, _ = p.top(1, 2)
out["top"] = [l.decode() for l in lines]
resp, lines, _ = p.top(2, 1)
out["top2"] = [l.decode() for l in lines]
out["uidl"] = [l.decode() for l in p.uidl()[1]]
out["uidl1"] = p.uidl(1).decode()
p.dele(1)
p.dele(3)
out["statAfterDele"] = list(p.stat())
try:
    p.retr(1); out["retrDeleted"] = "accepted"
except poplib.error_proto as e:
    out["retrDeleted"] = err(e)
out["rset"] = p.rset().decode()
out["statAfterRset"] = list(p.stat())
out["quit"] = p.quit().decode()
print(json.dumps(out))
`;
  type R = { top: string[]; top2: string[]; uidl: string[]; uidl1: string; statAfterDele: [number, number]; retrDeleted: string; rset: string; statAfterRset: [number, number]; quit: string };
  const a = await py<R>(code, address, password);
  const blank = a.top.indexOf("");
  assert.ok(blank > 0, "headers then a blank line");
  assert.ok(a.top.slice(0, blank).includes("Subject: one"));
  assert.deepEqual(a.top.slice(blank + 1), ["line 1", "line 2"]);
  assert.deepEqual(a.top2.slice(a.top2.indexOf("") + 1), [".dot first"]);
  assert.equal(a.statAfterDele[0], 1);
  assert.match(a.retrDeleted, /^-ERR message 1 already deleted/);
  assert.match(a.rset, /^\+OK maildrop has 3 messages/);
  assert.equal(a.statAfterRset[0], 3);
  assert.deepEqual(await inboxUids(address), [1, 2, 3], "RSET then QUIT deletes nothing");

  const inbox = (await server.services.store.getMailbox((await server.services.store.getAccount(address))!.id, "INBOX"))!;
  assert.deepEqual(a.uidl, [`1 ${inbox.uidValidity}.1`, `2 ${inbox.uidValidity}.2`, `3 ${inbox.uidValidity}.3`]);
  assert.equal(a.uidl1, `+OK 1 ${inbox.uidValidity}.1`);
  const b = await py<R>(code, address, password);
  assert.deepEqual(b.uidl, a.uidl, "UIDL is stable across sessions");
});

test("poplib: a second session gets [IN-USE] while the first is in TRANSACTION", async () => {
  const address = "lock@example.test";
  const password = "Tr0ub4dor&3-lock";
  await server.addUser(address, password);
  await putInInbox(server, address, [sampleMessage("locked", ["x"], address)]);
  const r = await py<{ second: string; afterQuit: [number, number]; otherUser: string }>(
    `
p1 = poplib.POP3_SSL(HOST, PORTS, context=ctx, timeout=10)
p1.user(USER); p1.pass_(PASSWORD)
p2 = poplib.POP3(HOST, PORT, timeout=10)
p2.stls(ctx)
p2.user(USER)
try:
    p2.pass_(PASSWORD); out["second"] = "accepted"
except poplib.error_proto as e:
    out["second"] = err(e)
p1.quit()
p3 = poplib.POP3_SSL(HOST, PORTS, context=ctx, timeout=10)
p3.user(USER); p3.pass_(PASSWORD)
out["afterQuit"] = list(p3.stat())
p3.quit()
p2.quit()
print(json.dumps(out))
`,
    address,
    password,
  );
  assert.equal(r.second, "-ERR [IN-USE] maildrop already locked by another session");
  assert.deepEqual(r.afterQuit[0], 1);
});

test("poplib: wrong password gives [AUTH] and the failure is audited", async () => {
  const address = "wrongpw@example.test";
  await server.addUser(address, "Tr0ub4dor&3-wrongpw");
  const r = await py<{ pass: string }>(
    `
p = poplib.POP3_SSL(HOST, PORTS, context=ctx, timeout=10)
p.user(USER)
try:
    p.pass_("not the password"); out["pass"] = "accepted"
except poplib.error_proto as e:
    out["pass"] = err(e)
p.quit()
print(json.dumps(out))
`,
    address,
    "unused",
  );
  assert.equal(r.pass, "-ERR [AUTH] authentication failed");
  const fail = server.events().find((e) => e.event === "auth.failure" && e.protocol === "pop3");
  assert.ok(fail, "auth.failure logged by the auth service");
  assert.ok(!JSON.stringify(server.events()).includes("not the password"), "the password never reaches the log");
});
