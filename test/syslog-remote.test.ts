// End to end: audit events shipped to a remote syslog collector (threat model §6). Collectors are
// node:net / node:tls servers on loopback that parse RFC 6587 §3.4.1 octet-counted frames and
// RFC 5424 headers strictly. Covered: a real Portcullis shipping over TCP and over TLS (verified
// against a CA file, refused without it), the heartbeat, a flush of server.stop at shutdown, and a
// shipper whose collector is away: bounded queue, oldest dropped and counted, drain on return.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { createServer as createNetServer, type Server, type Socket } from "node:net";
import { createServer as createTlsServer, Server as TlsServer } from "node:tls";
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startTestServer } from "./helpers/server.js";
import { generate as generateCert } from "selfsigned";
import { generateTlsCertificate } from "../src/config/init.js";
import { AUDIT_EVENTS, audit, createLogger } from "../src/log/audit.js";
import { SyslogShipper } from "../src/log/syslog.js";
import { parseExposition } from "../src/admin/metrics.js";

interface SyslogMessage {
  pri: number;
  timestamp: string;
  hostname: string;
  app: string;
  procid: string;
  msgid: string;
  sd: string;
  json: Record<string, unknown>;
}

const HEADER = /^<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) (-) \uFEFF([\s\S]*)$/;

/** A collector: accepts connections, splits octet-counted frames, parses each RFC 5424 message.
 * Anything that does not parse fails the test through `errors`. */
class Collector {
  readonly messages: SyslogMessage[] = [];
  readonly errors: string[] = [];
  connections = 0;
  private readonly sockets = new Set<Socket>();

  constructor(readonly server: Server) {
    const onSocket = (s: Socket): void => {
      this.connections += 1;
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
      s.on("error", () => undefined);
      let buf = Buffer.alloc(0);
      s.on("data", (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        for (;;) {
          const sp = buf.indexOf(0x20);
          if (sp < 0) break;
          const lenText = buf.subarray(0, sp).toString("ascii");
          if (!/^[1-9]\d{0,8}$/.test(lenText)) {
            this.errors.push(`bad frame length ${JSON.stringify(lenText)}`);
            s.destroy();
            return;
          }
          const len = Number(lenText);
          if (buf.length < sp + 1 + len) break;
          this.parse(buf.subarray(sp + 1, sp + 1 + len).toString("utf8"));
          buf = buf.subarray(sp + 1 + len);
        }
      });
    };
    server.on(server instanceof TlsServer ? "secureConnection" : "connection", onSocket);
  }

  private parse(text: string): void {
    const m = HEADER.exec(text);
    if (!m) {
      this.errors.push(`not RFC 5424: ${JSON.stringify(text.slice(0, 200))}`);
      return;
    }
    try {
      this.messages.push({ pri: Number(m[1]), timestamp: m[2]!, hostname: m[3]!, app: m[4]!, procid: m[5]!, msgid: m[6]!, sd: m[7]!, json: JSON.parse(m[8]!) as Record<string, unknown> });
    } catch {
      this.errors.push(`MSG is not JSON: ${JSON.stringify(m[8]!.slice(0, 200))}`);
    }
  }

  static async listen(server: Server, port = 0): Promise<Collector> {
    const c = new Collector(server);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => resolve());
    });
    return c;
  }

  get port(): number {
    return (this.server.address() as { port: number }).port;
  }

  events(name: string): SyslogMessage[] {
    return this.messages.filter((m) => m.msgid === name);
  }

  async waitFor(what: string, pred: () => boolean, ms = 10_000): Promise<void> {
    const end = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > end) assert.fail(`timed out waiting for ${what}; got ${this.messages.map((m) => m.msgid).join(", ")}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

const tmpDirs: string[] = [];
after(async () => {
  await Promise.all(tmpDirs.map((d) => rm(d, { recursive: true, force: true })));
});

function run(cmd: string, args: string[]): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: "ignore" });
    p.on("error", reject);
    p.on("close", resolve);
  });
}

test("TCP: audit events arrive as RFC 5424 messages (facility 13, MSGID = event, JSON MSG) with a heartbeat; server.stop is flushed", async () => {
  const collector = await Collector.listen(createNetServer());
  const server = await startTestServer({ config: { log: { remote: { url: `tcp://127.0.0.1:${collector.port}`, heartbeat: 0.3 } } } });
  let stopped = false;
  try {
    await collector.waitFor("server.start", () => collector.events("server.start").length === 1);
    await collector.waitFor("two heartbeats", () => collector.events("log.heartbeat").length >= 2);

    // A failed login: a warn-level audit event, severity 4.
    const address = "sys@example.test";
    await server.addUser(address, "Tr0ub4dor&3-syslog");
    const code = await run("curl", ["--silent", "--max-time", "20", "--cacert", server.certFile, `pop3s://127.0.0.1:${server.ports.pop3s}/`, "-u", `${address}:Wrong-Secret-Value-9`]);
    assert.notEqual(code, 0);
    await collector.waitFor("auth.failure", () => collector.events("auth.failure").length === 1);

    const fail = collector.events("auth.failure")[0]!;
    assert.equal(fail.pri, 13 * 8 + 4, "facility 13 (log audit), severity 4 (warning)");
    assert.equal(fail.json.username, address);
    assert.equal(fail.json.protocol, "pop3");
    const start = collector.events("server.start")[0]!;
    assert.equal(start.pri, 13 * 8 + 6, "info is severity 6");
    assert.equal(start.hostname, "localhost");
    assert.equal(start.app, "portcullis");
    assert.equal(start.procid, String(process.pid));
    assert.match(start.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    for (const m of collector.messages) {
      assert.ok((AUDIT_EVENTS as readonly string[]).includes(m.msgid), `only audit events are shipped, got ${m.msgid}`);
      assert.equal(m.json.event, m.msgid);
      assert.ok(!JSON.stringify(m.json).includes("Wrong-Secret-Value-9"), "no password reaches the collector");
    }
    const beats = collector.events("log.heartbeat").map((m) => m.json.seq as number);
    assert.deepEqual(beats.slice(0, 2), [1, 2]);
    assert.equal(collector.events("log.heartbeat")[0]!.json.connected !== undefined, true);

    // The local log got the same events.
    assert.ok(server.events().some((e) => e.event === "auth.failure" && e.username === address));

    // The metrics show the shipping state.
    const metrics = await new Promise<string>((resolve, reject) => {
      const p = spawn("curl", ["--silent", "--max-time", "20", `http://127.0.0.1:${server.ports.admin}/metrics`]);
      let out = "";
      p.stdout.on("data", (d: Buffer) => (out += d.toString()));
      p.on("error", reject);
      p.on("close", () => resolve(out));
    });
    const m = parseExposition(metrics);
    assert.equal(m.get("portcullis_log_remote_connected"), 1);
    assert.ok((m.get("portcullis_log_remote_sent_total") ?? 0) >= 4);
    assert.equal(m.get("portcullis_log_remote_dropped_total"), 0);

    await server.stop();
    stopped = true;
    await collector.waitFor("server.stop", () => collector.events("server.stop").length === 1, 3_000);
    assert.deepEqual(collector.errors, []);
    assert.equal(collector.connections, 1, "one connection for the whole run");
  } finally {
    if (!stopped) await server.stop();
    await collector.close();
  }
});

/** A self-signed client certificate (extKeyUsage clientAuth), as a collector's CA would issue. */
async function clientCertificate(name: string): Promise<{ cert: string; key: string }> {
  const pems = await generateCert([{ name: "commonName", value: name }], {
    keyType: "rsa",
    keySize: 2048,
    algorithm: "sha256",
    extensions: [
      { name: "basicConstraints", cA: false, critical: true },
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
      { name: "extKeyUsage", clientAuth: true },
    ],
  });
  return { cert: pems.cert, key: pems.private };
}

let collectorMaterial: ReturnType<typeof generateTlsCertificate> | null = null;
const collectorCert = (): ReturnType<typeof generateTlsCertificate> => (collectorMaterial ??= generateTlsCertificate("collector.test"));

test("TLS (RFC 5425): shipped when the collector's certificate chains to log.remote.ca; nothing shipped without it", async () => {
  const material = await collectorCert();
  const dir = await mkdtemp(join(tmpdir(), "portcullis-syslog-"));
  tmpDirs.push(dir);
  const caFile = join(dir, "collector-ca.pem");
  await writeFile(caFile, material.cert, { mode: 0o600 });
  const collector = await Collector.listen(createTlsServer({ cert: material.cert, key: material.key, minVersion: "TLSv1.2" }));
  const url = `tls://localhost:${collector.port}`;

  const trusted = await startTestServer({ config: { log: { remote: { url, ca: caFile, heartbeat: 0.3 } } } });
  try {
    await collector.waitFor("server.start over TLS", () => collector.events("server.start").length === 1);
    await collector.waitFor("a heartbeat over TLS", () => collector.events("log.heartbeat").length >= 1);
    assert.deepEqual(collector.errors, []);
  } finally {
    await trusted.stop();
  }
  await collector.waitFor("server.stop over TLS", () => collector.events("server.stop").length === 1, 3_000);

  // Without `ca`, the self-signed collector is not trusted: the handshake fails, nothing is sent.
  const before = collector.messages.length;
  const untrusted = await startTestServer({ config: { log: { remote: { url, heartbeat: 0.3 } } } });
  try {
    const isWarning = (e: Record<string, unknown>): boolean => typeof e.msg === "string" && e.msg.startsWith("remote log collector unreachable");
    for (let i = 0; i < 200 && !untrusted.events().some(isWarning); i++) await new Promise((r) => setTimeout(r, 50));
    const warned = untrusted.events().find(isWarning);
    assert.ok(warned, "the outage is logged locally");
    await new Promise((r) => setTimeout(r, 500)); // heartbeats every 300 ms keep trying
    assert.equal(collector.messages.length, before, "no message reaches an unverified collector");
    assert.match(String(warned.err), /self[- ]signed|unable to verify|certificate/i);
  } finally {
    await untrusted.stop();
    await collector.close();
  }
});

test("TLS mutual authentication (RFC 5425 §4.2): a collector that requires a client certificate gets log.remote.cert", async () => {
  const material = await collectorCert();
  const client = await clientCertificate("sender.test");
  const dir = await mkdtemp(join(tmpdir(), "portcullis-syslog-"));
  tmpDirs.push(dir);
  const files = { ca: join(dir, "ca.pem"), cert: join(dir, "client.pem"), key: join(dir, "client-key.pem") };
  await writeFile(files.ca, material.cert, { mode: 0o600 });
  await writeFile(files.cert, client.cert, { mode: 0o600 });
  await writeFile(files.key, client.key, { mode: 0o600 });
  // The collector verifies senders against the client certificate (self-signed: its own CA).
  const collector = await Collector.listen(
    createTlsServer({ cert: material.cert, key: material.key, minVersion: "TLSv1.2", requestCert: true, rejectUnauthorized: true, ca: [client.cert] }),
  );
  const url = `tls://localhost:${collector.port}`;
  try {
    const anonymous = await startTestServer({ config: { log: { remote: { url, ca: files.ca, heartbeat: 0.3 } } } });
    try {
      await new Promise((r) => setTimeout(r, 800));
      assert.equal(collector.messages.length, 0, "a sender without a certificate is refused by the collector");
    } finally {
      await anonymous.stop();
    }
    const server = await startTestServer({ config: { log: { remote: { url, ...files, heartbeat: 0.3 } } } });
    try {
      await collector.waitFor("server.start from the authenticated sender", () => collector.events("server.start").length === 1);
      assert.deepEqual(collector.errors, []);
    } finally {
      await server.stop();
    }
    await assert.rejects(startTestServer({ config: { log: { remote: { url, cert: files.cert } } } }), /cert and key go together/);
  } finally {
    await collector.close();
  }
});

/** A port with nothing listening on it (bound, read, closed). */
async function freePort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

test("collector away: the queue stays bounded (oldest dropped, counted), writes never block, and it drains when the collector returns", async () => {
  const port = await freePort();
  const shipper = new SyslogShipper({
    url: `tcp://127.0.0.1:${port}`,
    hostname: "mx.example.test",
    queueSize: 5,
    heartbeatMs: 3_600_000, // only the one at start; the test calls heartbeat() itself
    backoff: { initialMs: 50, maxMs: 200 },
  });
  const local: string[] = [];
  const log = createLogger({
    destination: {
      write(line: string): void {
        local.push(line);
        shipper.write(line);
      },
    },
  });
  shipper.start(log); // logs heartbeat 1 (queued: the collector is not there)
  try {
    const t0 = performance.now();
    for (let i = 1; i <= 20; i++) audit(log, "conn.refused", { n: i, ip: "192.0.2.1" }, "warn");
    assert.ok(performance.now() - t0 < 500, "writes return at once");
    const s = shipper.stats();
    assert.equal(s.connected, false);
    assert.equal(s.queued, 5, "the queue holds queue_size messages");
    assert.equal(s.dropped, 16, "heartbeat 1 and events 1..15 were dropped, oldest first");

    // Let a few reconnect attempts fail, then bring the collector up on the same port.
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(shipper.stats().queued, 5);
    const collector = await Collector.listen(createNetServer(), port);
    try {
      await collector.waitFor("the queued events", () => collector.events("conn.refused").length === 5);
      assert.deepEqual(
        collector.events("conn.refused").map((m) => m.json.n),
        [16, 17, 18, 19, 20],
        "the newest events survive, in order",
      );
      assert.equal(collector.messages[0]!.hostname, "mx.example.test");
      // The next heartbeat reports the drops, so the collector knows events are missing.
      shipper.heartbeat();
      await collector.waitFor("a heartbeat after the outage", () => collector.events("log.heartbeat").length === 1);
      assert.equal(collector.events("log.heartbeat")[0]!.json.dropped, 16);
      assert.equal(collector.events("log.heartbeat")[0]!.json.seq, 2);
      // Once connected, events flow straight through.
      audit(log, "ban.added", { subject: "192.0.2.1" });
      await collector.waitFor("a live event", () => collector.events("ban.added").length === 1);
      assert.equal(shipper.stats().queued, 0);
      assert.ok(local.some((l) => l.includes("remote log collector unreachable")), "the outage was logged locally once");
      assert.equal(local.filter((l) => l.includes("remote log collector unreachable")).length, 1, "once per outage, not per attempt");
      assert.deepEqual(collector.errors, []);

      // The collector goes away again and comes back: reconnection repeats.
      await collector.close();
      await new Promise((r) => setTimeout(r, 100));
      audit(log, "ban.lifted", { subject: "192.0.2.1" });
      const again = await Collector.listen(createNetServer(), port);
      try {
        await again.waitFor("the event queued during the second outage", () => again.events("ban.lifted").length === 1);
      } finally {
        await again.close();
      }
    } finally {
      await collector.close().catch(() => undefined);
    }
  } finally {
    await shipper.close(200);
  }
});
