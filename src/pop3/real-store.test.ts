// The POP3 session over the real SQLite store and the real auth service (only the connection
// is a fake): stored octet counts, RETR bytes, UIDL stability across sessions, atomic UPDATE,
// and that a dropped connection deletes nothing.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStore } from "../store/index.js";
import { createAuthService, makeCredentials } from "../auth/index.js";
import { configSchema } from "../config/schema.js";
import { createLogger } from "../log/audit.js";
import type { Services } from "../services.js";
import type { Store } from "../store/types.js";
import type { AuthThrottle } from "../policy/types.js";
import { createPop3Handler } from "./index.js";
import { FakeConnection } from "../../test/fixtures/pop3-fakes.js";

let dir: string;
let store: Store;
let services: Services;
let inboxId: number;
let uidValidity: number;

const throttle: AuthThrottle = {
  before: () => ({ action: "proceed", delayMs: 0 }),
  failure: async () => ({ banned: false }),
  success: () => undefined,
};

const bodies = [
  "From: a@example.org\r\nSubject: first\r\n\r\nHello\r\n.\r\n..two dots\r\n",
  "From: b@example.org\r\nSubject: second\r\n\r\n" + "line\r\n".repeat(100),
  "From: c@example.org\r\nSubject: third\r\n\r\nbye\r\n",
];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "pop3-store-"));
  const log = createLogger({ level: "silent" });
  store = await openStore(dir, { log });
  const config = configSchema.parse({ server: { hostname: "mail.example.test" } });
  services = { config, dataDir: dir, store, auth: createAuthService({ config, store, log, throttle }), log };
  await store.addDomain("example.test");
  const account = await store.createAccount("carol@example.test", { credentials: await makeCredentials("correct horse battery staple") });
  const inbox = (await store.getMailbox(account.id, "INBOX"))!;
  inboxId = inbox.id;
  uidValidity = inbox.uidValidity;
  for (const b of bodies) await store.appendMessage(inboxId, { body: Buffer.from(b) });
});

after(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

async function session(lines: string[], o: { destroyAfter?: RegExp } = {}): Promise<string> {
  const conn = new FakeConnection({ log: services.log });
  const done = createPop3Handler(services).serve(conn);
  conn.feed(lines.map((l) => l + "\r\n").join(""));
  if (o.destroyAfter) {
    await conn.waitFor(o.destroyAfter, 10_000);
    conn.destroy();
  } else {
    conn.endInput();
  }
  await done;
  return conn.output();
}

const LOGIN = ["USER carol@example.test", "PASS correct horse battery staple"];

test("sizes are the stored octet counts and RETR returns the stored bytes, stuffed", async () => {
  const out = await session([...LOGIN, "LIST", "RETR 1", "QUIT"]);
  const total = bodies.reduce((n, b) => n + Buffer.byteLength(b), 0);
  assert.match(out, new RegExp(`\\+OK maildrop has 3 messages \\(${total} octets\\)`));
  assert.ok(out.includes(`1 ${Buffer.byteLength(bodies[0]!)}\r\n2 ${Buffer.byteLength(bodies[1]!)}\r\n3 ${Buffer.byteLength(bodies[2]!)}\r\n.\r\n`));
  assert.ok(out.includes(`+OK ${Buffer.byteLength(bodies[0]!)} octets\r\nFrom: a@example.org\r\nSubject: first\r\n\r\nHello\r\n..\r\n...two dots\r\n.\r\n`));
});

test("UIDL is uidValidity.uid and stable across sessions", async () => {
  const a = await session([...LOGIN, "UIDL", "QUIT"]);
  const b = await session([...LOGIN, "UIDL", "QUIT"]);
  const listing = (s: string) => s.split("+OK unique-id listing follows\r\n")[1]!.split("\r\n.\r\n")[0];
  assert.equal(listing(a), `1 ${uidValidity}.1\r\n2 ${uidValidity}.2\r\n3 ${uidValidity}.3`);
  assert.equal(listing(a), listing(b));
});

test("a dropped connection after DELE deletes nothing", async () => {
  await session([...LOGIN, "DELE 1", "DELE 2"], { destroyAfter: /message 2 deleted/ });
  assert.deepEqual((await store.listMessages(inboxId)).map((m) => m.uid), [1, 2, 3]);
});

test("QUIT removes exactly the marked messages; numbering restarts, UIDLs stay", async () => {
  const out = await session([...LOGIN, "DELE 2", "QUIT"]);
  assert.match(out, /signing off \(1 messages deleted, 2 left\)/);
  assert.deepEqual((await store.listMessages(inboxId)).map((m) => m.uid), [1, 3]);
  const next = await session([...LOGIN, "UIDL", "QUIT"]);
  assert.ok(next.includes(`1 ${uidValidity}.1\r\n2 ${uidValidity}.3\r\n.\r\n`));
});

test("wrong password: [AUTH] failure from the real auth service", async () => {
  const out = await session(["USER carol@example.test", "PASS wrong password", "QUIT"]);
  assert.match(out, /-ERR \[AUTH\] authentication failed\r\n/);
});

test("a message expunged by another session (IMAP) after the snapshot: RETR gets -ERR, the session goes on", async () => {
  const extra = await store.appendMessage(inboxId, { body: Buffer.from("Subject: going\r\n\r\nsoon gone\r\n") });
  const conn = new FakeConnection({ log: services.log });
  const done = createPop3Handler(services).serve(conn);
  conn.feed([...LOGIN, "STAT"].map((l) => l + "\r\n").join(""));
  await conn.waitFor(/\+OK 3 \d+\r\n/, 10_000);
  await store.expunge(inboxId, [extra.uid]);
  conn.feed("RETR 3\r\nRETR 1\r\nDELE 3\r\nQUIT\r\n");
  conn.endInput();
  await done;
  const out = conn.output();
  assert.match(out, /\+OK 3 \d+\r\n-ERR message was removed by another session\r\n\+OK \d+ octets\r\nFrom: a@example.org/);
  assert.match(out, /\+OK message 3 deleted\r\n\+OK Portcullis POP3 signing off \(0 messages deleted, 2 left\)\r\n$/);
  assert.deepEqual((await store.listMessages(inboxId)).map((m) => m.uid), [1, 3]);
});
