// End to end: SASL authentication against a real Portcullis over loopback TLS, through POP3
// (RFC 5034 AUTH). SCRAM-SHA-256-PLUS with the real tls-exporter value of the client's own TLS
// connection (RFC 9266), a relayed exchange (another connection's binding), the "y" downgrade
// (RFC 5802 §6), SCRAM on TLS 1.2 (no exporter binding, so no -PLUS), PLAIN and LOGIN, and the
// audit events: one per attempt, never with the password.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { connect, type TLSSocket } from "node:tls";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { ScramClient } from "../src/auth/sasl/scram-client.js";

let server: TestServer;
const USER = "sasl-user@example.test";
const PASSWORD = "Quokka-Lantern-Meridian-42";

before(async () => {
  server = await startTestServer();
  await server.addUser(USER, PASSWORD);
});
after(async () => {
  await server?.stop();
});

/** A minimal POP3-over-TLS line client that exposes its TLS socket (for the exporter). */
class Client {
  private buf = "";
  private waiters: Array<() => void> = [];
  private closed = false;
  private constructor(readonly sock: TLSSocket) {
    sock.setEncoding("latin1");
    sock.on("data", (d: string) => {
      this.buf += d;
      this.wake();
    });
    sock.on("close", () => {
      this.closed = true;
      this.wake();
    });
    sock.on("error", () => undefined);
  }
  static async open(maxVersion: "TLSv1.2" | "TLSv1.3" = "TLSv1.3"): Promise<Client> {
    const sock = connect({ host: "127.0.0.1", port: server.ports.pop3s, ca: server.caCert, servername: "localhost", maxVersion });
    await new Promise<void>((resolve, reject) => {
      sock.once("secureConnect", resolve);
      sock.once("error", reject);
    });
    const c = new Client(sock);
    assert.match((await c.line()) ?? "", /^\+OK/);
    return c;
  }
  private wake() {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
  async line(): Promise<string | null> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const i = this.buf.indexOf("\r\n");
      if (i >= 0) {
        const l = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 2);
        return l;
      }
      if (this.closed) return null;
      if (Date.now() > deadline) throw new Error(`no reply; buffered ${JSON.stringify(this.buf)}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 200);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }
  async cmd(line: string): Promise<string> {
    this.sock.write(line + "\r\n");
    return (await this.line()) ?? "<closed>";
  }
  async capaSasl(): Promise<string[]> {
    assert.match(await this.cmd("CAPA"), /^\+OK/);
    let sasl: string[] = [];
    for (;;) {
      const l = await this.line();
      if (l === null || l === ".") return sasl;
      if (l.startsWith("SASL ")) sasl = l.slice(5).split(" ");
    }
  }
  /** RFC 9266: the tls-exporter channel binding of this connection, as the client sees it. */
  exporter(): Buffer {
    return this.sock.exportKeyingMaterial(32, "EXPORTER-Channel-Binding", Buffer.alloc(0));
  }
  close() {
    this.sock.destroy();
  }
}

const b64 = (s: Buffer | string) => Buffer.from(s).toString("base64");
const unb64 = (line: string) => Buffer.from(line.replace(/^\+ ?/, ""), "base64");

/** Runs a SCRAM exchange over POP3 AUTH; returns the final reply and whether the server's
 * signature checked out. */
async function scram(c: Client, mechanism: string, client: ScramClient): Promise<{ reply: string; serverOk: boolean }> {
  const r1 = await c.cmd(`AUTH ${mechanism} ${b64(client.clientFirst())}`);
  if (!r1.startsWith("+")) return { reply: r1, serverOk: false };
  const r2 = await c.cmd(b64(client.clientFinal(unb64(r1))));
  if (!r2.startsWith("+")) return { reply: r2, serverOk: false };
  const serverOk = client.verifyServerFinal(unb64(r2));
  return { reply: await c.cmd(""), serverOk };
}

function authEvents(): Array<Record<string, unknown>> {
  return server.events().filter((e) => e.event === "auth.success" || e.event === "auth.failure");
}

test("TLS 1.3: -PLUS is offered and SCRAM-SHA-256-PLUS with the real tls-exporter binding logs in", async () => {
  const c = await Client.open("TLSv1.3");
  assert.deepEqual(await c.capaSasl(), ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "PLAIN", "LOGIN"]);
  const client = new ScramClient({ username: USER, password: PASSWORD, gs2Header: "p=tls-exporter,,", channelBinding: c.exporter() });
  const r = await scram(c, "SCRAM-SHA-256-PLUS", client);
  assert.match(r.reply, /^\+OK/);
  assert.equal(r.serverOk, true, "the server proved it holds the verifier");
  assert.match(await c.cmd("STAT"), /^\+OK 0 0/);
  c.close();
});

test("SCRAM-SHA-256-PLUS relayed from another TLS connection is refused", async () => {
  const victim = await Client.open("TLSv1.3");
  const attacker = await Client.open("TLSv1.3");
  // The client computes its binding on its own connection; the exchange arrives on another one.
  const client = new ScramClient({ username: USER, password: PASSWORD, gs2Header: "p=tls-exporter,,", channelBinding: victim.exporter() });
  const r = await scram(attacker, "SCRAM-SHA-256-PLUS", client);
  assert.match(r.reply, /^-ERR/);
  victim.close();
  attacker.close();
});

test("downgrade: a client saying \"y\" where -PLUS was offered is refused", async () => {
  const c = await Client.open("TLSv1.3");
  const r = await scram(c, "SCRAM-SHA-256", new ScramClient({ username: USER, password: PASSWORD, gs2Header: "y,," }));
  assert.match(r.reply, /^-ERR/);
  c.close();
});

test("TLS 1.2: no exporter binding, so no -PLUS; SCRAM-SHA-256 (even with \"y\") works", async () => {
  const c = await Client.open("TLSv1.2");
  assert.deepEqual(await c.capaSasl(), ["SCRAM-SHA-256", "PLAIN", "LOGIN"]);
  const r = await scram(c, "SCRAM-SHA-256", new ScramClient({ username: USER.toUpperCase(), password: PASSWORD, gs2Header: "y,," }));
  assert.match(r.reply, /^\+OK/);
  assert.equal(r.serverOk, true);
  c.close();
});

test("SCRAM with a wrong password, PLAIN and LOGIN, and what the audit log says", async () => {
  const before = authEvents().length;
  const c1 = await Client.open();
  const wrong = await scram(c1, "SCRAM-SHA-256", new ScramClient({ username: USER, password: "Not-The-Password-1" }));
  assert.match(wrong.reply, /^-ERR/);
  c1.close();

  const c2 = await Client.open();
  assert.match(await c2.cmd(`AUTH PLAIN ${b64(`\0${USER}\0${PASSWORD}`)}`), /^\+OK/);
  c2.close();

  const c3 = await Client.open();
  assert.equal(await c3.cmd("AUTH LOGIN"), `+ ${b64("Username:")}`);
  assert.equal(await c3.cmd(b64(USER)), `+ ${b64("Password:")}`);
  assert.match(await c3.cmd(b64(PASSWORD)), /^\+OK/);
  c3.close();

  const events = authEvents().slice(before);
  assert.deepEqual(
    events.map((e) => [e.event, e.mechanism, e.protocol, e.reason ?? null]),
    [
      ["auth.failure", "SCRAM-SHA-256", "pop3", "invalid-credentials"],
      ["auth.success", "PLAIN", "pop3", null],
      ["auth.success", "LOGIN", "pop3", null],
    ],
  );
  for (const e of events) {
    assert.equal(e.ip, "127.0.0.1");
    assert.equal(typeof e.conn, "string");
  }
});

test("no log line contains a password", () => {
  for (const e of server.events()) {
    const line = JSON.stringify(e);
    assert.ok(!line.includes(PASSWORD) && !line.includes("Not-The-Password-1"), line);
    assert.ok(!line.includes(b64(`\0${USER}\0${PASSWORD}`)), line);
  }
});
