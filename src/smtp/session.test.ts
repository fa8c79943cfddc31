// The session state machine driven through an in-memory Connection: the central 503 table, HELO
// vs EHLO, the AUTH wire syntax (334 challenges, success with additional data, cancel, failures,
// account session slots) and reader errors. End-to-end behaviour is in test/smtp-*.test.ts.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { InputBuffer } from "../net/framing.js";
import { InputError, type Connection, type Line, type SessionPhase } from "../net/types.js";
import { configSchema } from "../config/schema.js";
import { createLogger } from "../log/audit.js";
import type { Account, Store } from "../store/types.js";
import type { AuthService, SaslExchange, SaslStep } from "../auth/types.js";
import type { Services } from "../services.js";
import { createSmtpHandler } from "./index.js";

const roots: string[] = [];
after(async () => {
  await Promise.all(roots.map((r) => rm(r, { recursive: true, force: true })));
});

class FakeConnection implements Connection {
  readonly id = "test-1";
  readonly remoteAddress = "192.0.2.9";
  readonly remotePort = 40000;
  readonly localAddress = "192.0.2.1";
  readonly localPort = 25;
  secure = false;
  tls = null;
  closed = false;
  shuttingDown = false;
  output = "";
  phases: Array<[SessionPhase, number | undefined]> = [];
  claims = 0;
  private readonly controller = new AbortController();
  private readonly input = new InputBuffer();
  private wake: (() => void) | null = null;
  private outputWaiters: Array<() => void> = [];

  constructor(
    readonly listener: Connection["listener"],
    readonly log: Connection["log"],
    public passwordAuthAllowed: boolean,
    private readonly allowClaims = true,
  ) {}

  get signal(): AbortSignal {
    return this.controller.signal;
  }
  get buffered(): number {
    return this.input.buffered;
  }

  feed(s: string | Buffer): void {
    this.input.push(Buffer.isBuffer(s) ? s : Buffer.from(s, "utf8"));
    this.wake?.();
  }
  endInput(): void {
    this.input.end();
    this.wake?.();
  }
  private async more(): Promise<void> {
    await new Promise<void>((resolve) => (this.wake = resolve));
    this.wake = null;
  }
  async waitOutput(re: RegExp): Promise<void> {
    while (!re.test(this.output)) await new Promise<void>((r) => this.outputWaiters.push(r));
  }

  async readLine(maxBytes: number): Promise<Line | null> {
    for (;;) {
      const r = this.input.takeLine(maxBytes);
      if (r.kind === "line") return r.line;
      if (r.kind === "too-long") throw new InputError("too-long", "line too long");
      if (r.kind === "eof") return null;
      if (r.kind === "eof-mid-line") throw new InputError("eof", "eof mid-line");
      await this.more();
    }
  }
  async readBytes(n: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    await this.readStream(n, (c) => void parts.push(Buffer.from(c)));
    return Buffer.concat(parts);
  }
  async readStream(n: number, onChunk: (chunk: Buffer) => void | Promise<void>): Promise<void> {
    let left = n;
    while (left > 0) {
      const b = this.input.takeBytes(left);
      if (b === null) {
        if (this.input.atEnd) throw new InputError("eof", "eof in chunk");
        await this.more();
        continue;
      }
      left -= b.length;
      await onChunk(b);
    }
  }
  async write(data: string | Buffer): Promise<void> {
    this.output += data.toString();
    const ws = this.outputWaiters;
    this.outputWaiters = [];
    ws.forEach((w) => w());
  }
  async startTls(): Promise<{ discarded: number }> {
    this.secure = true;
    return { discarded: this.input.discardAll() };
  }
  setPhase(phase: SessionPhase, idleTimeoutMs?: number): void {
    this.phases.push([phase, idleTimeoutMs]);
  }
  claimAccount(): boolean {
    this.claims++;
    return this.allowClaims;
  }
  async close(): Promise<void> {
    this.closed = true;
    this.controller.abort();
  }
}

const ALICE: Account = {
  id: 1,
  address: "alice@example.test",
  domainId: 1,
  credentials: null,
  quotaBytes: null,
  disabled: false,
  createdAt: new Date(0),
};

/** A SASL mechanism "TEST": challenge "who?", expects "alice", succeeds with data "done" when
 * the mechanism is TEST-DATA. Any other response fails as invalid credentials. */
function fakeAuth(): AuthService {
  return {
    mechanisms: (ctx) => (ctx.passwordAuthAllowed ? ["TEST", "TEST-DATA"] : []),
    startSasl(mechanism): SaslExchange {
      let asked = false;
      return {
        mechanism,
        async step(msg): Promise<SaslStep> {
          if (mechanism === "BANNED") return { kind: "failure", reason: "banned", message: "banned" };
          if (mechanism !== "TEST" && mechanism !== "TEST-DATA") return { kind: "failure", reason: "unsupported", message: "no" };
          if (msg === null && !asked) {
            asked = true;
            return { kind: "challenge", data: Buffer.from("who?") };
          }
          if (msg?.toString() === "alice") return { kind: "success", account: ALICE, data: mechanism === "TEST-DATA" ? Buffer.from("done") : null };
          return { kind: "failure", reason: "invalid-credentials", message: "no" };
        },
      };
    },
    verifyPassword: async () => ({ ok: false, reason: "invalid-credentials", message: "no" }),
  };
}

function fakeStore(): Store {
  const domain = { id: 1, name: "example.test", catchAll: null, createdAt: new Date(0) };
  const partial: Partial<Store> = {
    listDomains: async () => [domain],
    getDomain: async (n) => (n === "example.test" ? domain : null),
    getAccount: async (a) => (a === ALICE.address ? ALICE : null),
    getAlias: async () => null,
    quotaUsage: async () => 0,
  };
  return partial as Store;
}

async function run(o: { role: "mx" | "submission"; script: string[] | string | Buffer; auth?: boolean; claims?: boolean }): Promise<{ conn: FakeConnection; replies: string[]; dataDir: string; logs: string }> {
  const dataDir = await mkdtemp(join(tmpdir(), "portcullis-smtp-session-"));
  roots.push(dataDir);
  let logs = "";
  const log = createLogger({
    level: "info",
    destination: new Writable({
      write(chunk: Buffer, _e, cb) {
        logs += chunk.toString();
        cb();
      },
    }),
  });
  const config = configSchema.parse({ server: { hostname: "mx.example.test" }, smtp: { max_bad_commands: 100 } });
  const services: Services = { config, dataDir, store: fakeStore(), auth: fakeAuth(), log };
  const listener = { name: o.role === "mx" ? "smtp" : "submission", protocol: "smtp" as const, smtpRole: o.role, port: 25, tls: "starttls" as const, allowInsecureAuth: false };
  const conn = new FakeConnection(listener, log, o.auth ?? true, o.claims ?? true);
  const handler = createSmtpHandler(services, { greetDelayMs: 0 });
  const done = handler.serve(conn);
  await conn.waitOutput(/^220 /);
  conn.feed(typeof o.script === "string" || Buffer.isBuffer(o.script) ? o.script : o.script.map((l) => l + "\r\n").join(""));
  conn.endInput();
  await done;
  return { conn, replies: conn.output.split("\r\n").filter((l) => l !== ""), dataDir, logs };
}

/** The final line of each reply ("250 2.1.0 Sender OK"), greeting excluded. */
function finals(replies: string[]): string[] {
  return replies.filter((l) => /^\d{3} /.test(l) && !l.startsWith("334 ")).slice(1);
}

test("state table: each command refused with 503 5.5.1 outside its states, from one place", async () => {
  const { replies } = await run({
    role: "mx",
    script: [
      "MAIL FROM:<a@b.example>", // before EHLO
      "RCPT TO:<alice@example.test>",
      "DATA",
      "EHLO c.example",
      "RCPT TO:<alice@example.test>", // before MAIL
      "DATA",
      "MAIL FROM:<a@b.example>",
      "MAIL FROM:<a@b.example>", // nested
      "DATA", // no recipient yet: 554 (RFC 2920)
      "STARTTLS", // not inside a transaction
      "RCPT TO:<alice@example.test>",
      "RSET",
      "DATA",
      "QUIT",
    ],
  });
  const f = finals(replies);
  assert.equal(f[3], "250 STARTTLS", "the last EHLO line");
  const codes = f.map((l) => l.slice(0, 9));
  codes[3] = "EHLO";
  assert.deepEqual(codes, [
    "503 5.5.1", // MAIL before EHLO
    "503 5.5.1", // RCPT before EHLO
    "503 5.5.1", // DATA before EHLO
    "EHLO",
    "503 5.5.1", // RCPT before MAIL
    "503 5.5.1", // DATA before MAIL
    "250 2.1.0",
    "503 5.5.1", // nested MAIL
    "554 5.5.1", // DATA with no recipient
    "503 5.5.1", // STARTTLS inside a transaction
    "250 2.1.5",
    "250 2.0.0", // RSET
    "503 5.5.1", // DATA after RSET
    "221 2.0.0",
  ]);
  assert.match(finals(replies)[0]!, /Send EHLO or HELO first/);
  assert.match(finals(replies)[4]!, /Send MAIL first/);
  assert.match(finals(replies)[7]!, /Nested MAIL/);
});

test("HELO: no extensions, and MAIL parameters need EHLO (555)", async () => {
  const { replies } = await run({ role: "mx", script: ["HELO c.example", "MAIL FROM:<a@b.example> SIZE=10", "MAIL FROM:<a@b.example>", "QUIT"] });
  const f = finals(replies);
  assert.equal(f[0], "250 mx.example.test");
  assert.match(f[1]!, /^555 5\.5\.4 /);
  assert.match(f[2]!, /^250 2\.1\.0 /);
});

test("EHLO on submission: AUTH listed only when password auth is allowed and not yet done", async () => {
  const plain = await run({ role: "submission", auth: false, script: ["EHLO c.example", "AUTH TEST", "QUIT"] });
  assert.ok(!plain.conn.output.includes("AUTH TEST"));
  assert.match(finals(plain.replies)[1]!, /^530 5\.7\.0 /);
  const allowed = await run({ role: "submission", script: ["EHLO c.example", "AUTH TEST", Buffer.from("alice").toString("base64"), "EHLO c.example", "QUIT"] });
  const ehlos = allowed.conn.output.split(/\r\n(?=250-mx)/).slice(1);
  assert.match(ehlos[0]!, /250-AUTH TEST TEST-DATA\r\n|250 AUTH TEST TEST-DATA\r\n/);
  assert.ok(!ehlos[1]!.includes("AUTH"), "not offered again after AUTH");
});

test("AUTH: challenge, success, the authenticated phase, and MAIL needs AUTH before", async () => {
  const { replies, conn } = await run({
    role: "submission",
    script: ["EHLO c.example", "MAIL FROM:<alice@example.test>", "AUTH TEST", Buffer.from("alice").toString("base64"), "MAIL FROM:<alice@example.test>", "QUIT"],
  });
  assert.ok(replies.includes(`334 ${Buffer.from("who?").toString("base64")}`));
  const f = finals(replies);
  assert.match(f[1]!, /^530 5\.7\.0 /);
  assert.match(f[2]!, /^235 2\.7\.0 /);
  assert.match(f[3]!, /^250 2\.1\.0 /);
  assert.equal(conn.claims, 1);
  assert.deepEqual(conn.phases, [["preauth", undefined], ["authenticated", 5 * 60_000]], "RFC 5321 timeouts once authenticated");
});

test("AUTH: success with additional data is a 334 answered by an empty line (RFC 4954 §4)", async () => {
  const { replies } = await run({ role: "submission", script: ["EHLO c.example", "AUTH TEST-DATA", Buffer.from("alice").toString("base64"), "", "QUIT"] });
  assert.ok(replies.includes(`334 ${Buffer.from("done").toString("base64")}`));
  assert.match(finals(replies)[1]!, /^235 2\.7\.0 /);
});

test("AUTH: initial response '=', cancel, bad base64, unknown mechanism, wrong credentials", async () => {
  const { replies } = await run({
    role: "submission",
    script: [
      "EHLO c.example",
      "AUTH TEST =", // empty initial response: not "alice"
      "AUTH TEST",
      "*",
      "AUTH TEST !!!",
      "AUTH NOPE",
      "AUTH TEST",
      "not base64!",
      "QUIT",
    ],
  });
  const f = finals(replies);
  assert.match(f[1]!, /^535 5\.7\.8 /);
  assert.match(f[2]!, /^501 5\.7\.0 /);
  assert.match(f[3]!, /^501 5\.5\.2 /);
  assert.match(f[4]!, /^504 5\.5\.4 /);
  assert.match(f[5]!, /^501 5\.5\.2 /);
  assert.match(f[6]!, /^221 /);
});

test("AUTH: a banned client is told 421 and disconnected; no free account slot is 454", async () => {
  const banned = await run({ role: "submission", script: ["EHLO c.example", "AUTH BANNED", "NOOP"] });
  assert.match(finals(banned.replies)[1]!, /^421 4\.7\.0 /);
  assert.equal(finals(banned.replies).length, 2, "nothing after the 421");
  const full = await run({ role: "submission", claims: false, script: ["EHLO c.example", "AUTH TEST", Buffer.from("alice").toString("base64"), "MAIL FROM:<alice@example.test>", "QUIT"] });
  const f = finals(full.replies);
  assert.match(f[1]!, /^454 4\.7\.0 /);
  assert.match(f[2]!, /^530 /, "not authenticated");
});

test("no AUTH on MX at all", async () => {
  const { replies, conn } = await run({ role: "mx", script: ["EHLO c.example", "AUTH TEST", "QUIT"] });
  assert.ok(!conn.output.includes("AUTH TEST"));
  assert.match(finals(replies)[1]!, /^503 5\.5\.1 /);
});

test("an AUTH line longer than RFC 4954's 12288 octets is 500 5.5.2 and closes", async () => {
  const { replies, conn } = await run({ role: "submission", script: "EHLO c.example\r\nAUTH TEST " + "A".repeat(13_000) + "\r\nNOOP\r\n" });
  assert.match(finals(replies)[1]!, /^500 5\.5\.2 /);
  assert.equal(finals(replies).length, 2);
  assert.ok(conn.closed);
});

test("RSET during BDAT throws the spool file away", async () => {
  const { replies, dataDir } = await run({
    role: "mx",
    script: "EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<alice@example.test>\r\nBDAT 5\r\nhelloRSET\r\nQUIT\r\n",
  });
  const f = finals(replies);
  assert.match(f[3]!, /^250 2\.0\.0 5 octets/);
  assert.match(f[4]!, /^250 2\.0\.0 /);
  // discard() runs in the background on state change; give it a moment.
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(await readdir(join(dataDir, "tmp", "smtp")), []);
});

test("a client that disconnects mid-DATA leaves no spool file", async () => {
  const { dataDir, conn } = await run({ role: "mx", script: "EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\nSubject: x\r\n\r\npartial" });
  assert.ok(conn.closed);
  assert.deepEqual(await readdir(join(dataDir, "tmp", "smtp")), []);
});

test("a DATA line over SMTP_MAX_DATA_LINE is 500 5.5.2, closes, and leaves no spool file", async () => {
  const { replies, dataDir, conn } = await run({
    role: "mx",
    script: "EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\nSubject: x\r\n\r\n" + "y".repeat(70_000) + "\r\n.\r\nNOOP\r\n",
  });
  const f = finals(replies);
  assert.equal(f[3], "354 End data with <CR><LF>.<CR><LF>");
  assert.match(f[4]!, /^500 5\.5\.2 /);
  assert.equal(f.length, 5, "nothing after it");
  assert.ok(conn.closed);
  assert.deepEqual(await readdir(join(dataDir, "tmp", "smtp")), []);
});

test("HTTP in the middle of a session (POST, Host:) is 554 and closes, with smtp.protocol.abuse", async () => {
  for (const line of ["POST /submit HTTP/1.1", "Host: mx.example.test"]) {
    const { replies, conn, logs } = await run({ role: "mx", script: ["EHLO c.example", line, "NOOP"] });
    const f = finals(replies);
    assert.match(f[1]!, /^554 5\.7\.0 /, line);
    assert.equal(f.length, 2);
    assert.ok(conn.closed);
    assert.match(logs, /"event":"smtp.protocol.abuse".*"reason":"http"/);
  }
});

test("NUL, invalid UTF-8 and unknown verbs are 500 (and the session goes on)", async () => {
  const { replies } = await run({ role: "mx", script: Buffer.from("NOOP a\0b\r\nNOOP \xff\r\nFOO\r\nQUIT\r\n", "latin1") });
  const f = finals(replies);
  assert.match(f[0]!, /^500 5\.5\.2 /);
  assert.match(f[1]!, /^500 5\.5\.2 /);
  assert.match(f[2]!, /^500 5\.5\.1 /);
  assert.match(f[3]!, /^221 /);
});
