// The queue runner driven directly (its own store and configuration, injected resolver, MTA-STS
// fetcher and trusted CA): a smarthost with AUTH over STARTTLS and over implicit TLS (a second
// Portcullis as the relay), MTA-STS enforce (verified TLS to a matching MX, deferral otherwise),
// DSNs for a remote sender queued from the null sender, and no DSN about a DSN.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { startSink, until, allMessagesOf, type Sink } from "./fixtures/queue-peers.js";
import { openStore } from "../src/store/index.js";
import type { Store } from "../src/store/types.js";
import { configSchema } from "../src/config/schema.js";
import { createLogger } from "../src/log/audit.js";
import { QueueRunner } from "../src/queue/runner.js";
import type { DnsResolver } from "../src/queue/dns.js";

const RELAY = "relay@example.test";
const RELAY_PW = "relay-pass-6a1f0c3d";

let peer: TestServer;
let dir: string;
let store: Store;
let refusing: Sink;
let bounceSink: Sink;
const lines: Array<Record<string, unknown>> = [];
const log = createLogger({
  level: "info",
  destination: new Writable({
    write(chunk: Buffer, _e, cb) {
      for (const l of chunk.toString().split("\n")) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  }),
});
const events = (name: string) => lines.filter((e) => e.event === name);

before(async () => {
  peer = await startTestServer();
  await peer.addUser(RELAY, RELAY_PW);
  await peer.addUser("dora@localhost", "dora-pass-2b8e5f7a");
  await peer.services.store.addDomain("sts.test");
  await peer.addUser("stan@sts.test", "stan-pass-7c4d1e9b");
  refusing = await startSink({ args: ["-f", "RCPT"] });
  bounceSink = await startSink();
  dir = await mkdtemp(join(tmpdir(), "portcullis-runner-"));
  store = await openStore(dir, { log });
});

after(async () => {
  await store?.close();
  await peer?.stop();
  await Promise.all([refusing?.stop(), bounceSink?.stop()]);
  await rm(dir, { recursive: true, force: true });
});

function runner(outbound: Record<string, unknown>, extra: Partial<ConstructorParameters<typeof QueueRunner>[0]> = {}): QueueRunner {
  const config = configSchema.parse({ server: { hostname: "localhost" }, outbound: { retry_initial: "1h", ...outbound } });
  const r = new QueueRunner({ config, dataDir: dir, store, log, pollMs: 100, ...extra });
  r.start();
  return r;
}

const message = (from: string, to: string, subject: string): Buffer =>
  Buffer.from(`From: ${from}\r\nTo: ${to}\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, "")}@test>\r\n\r\nbody of ${subject}\r\n`);

test("smarthost: AUTH PLAIN after STARTTLS (smtp://) and over implicit TLS (smtps://), certificate verified", async () => {
  for (const [scheme, port] of [["smtp", peer.ports.submission], ["smtps", peer.ports.submissions]] as const) {
    const r = runner({ smarthost: `${scheme}://${encodeURIComponent(RELAY)}:${RELAY_PW}@localhost:${port}` }, { ca: [peer.caCert] });
    try {
      const q = await store.enqueue({ sender: RELAY, recipients: ["dora@localhost"], domain: "localhost", body: message(RELAY, "dora@localhost", `via ${scheme}`) });
      await until("delivery through the relay", async () => (await store.getQueued(q.id)) === null || null);
      const d = events("queue.delivered").find((e) => e.id === q.id)!;
      assert.match(String(d.tls), /^TLSv1\.[23]$/);
      const got = await until("the message at the relay's user", async () => (await allMessagesOf(peer, "dora@localhost")).find((m) => m.includes(`Subject: via ${scheme}`)));
      assert.match(got, /with ESMTPSA/, "the relay saw an authenticated submission (RFC 3848)");
    } finally {
      await r.stop(1000);
    }
  }
});

test("smarthost with a wrong password: deferred, not bounced", async () => {
  const r = runner({ smarthost: `smtp://${encodeURIComponent(RELAY)}:wrong-password@localhost:${peer.ports.submission}` }, { ca: [peer.caCert] });
  try {
    const q = await store.enqueue({ sender: RELAY, recipients: ["dora@localhost"], domain: "localhost", body: message(RELAY, "dora@localhost", "bad auth") });
    const d = await until("queue.deferred", () => events("queue.deferred").find((e) => e.id === q.id));
    assert.match(String(d.reason), /AUTH: 535/);
    assert.equal((await store.getQueued(q.id))?.recipients[0]?.status, "pending");
    await store.deleteQueued(q.id);
  } finally {
    await r.stop(1000);
  }
});

/** A resolver for the MTA-STS cases: every *.sts.test domain has MX localhost and a policy record. */
const stsResolver: DnsResolver = {
  resolveMx: async (n) => (n.endsWith("sts.test") ? [{ exchange: "localhost", priority: 10 }] : Promise.reject(Object.assign(new Error(n), { code: "ENOTFOUND" }))),
  resolve4: async (n) => (n === "localhost" ? ["127.0.0.1"] : Promise.reject(Object.assign(new Error(n), { code: "ENOTFOUND" }))),
  resolve6: async () => Promise.reject(Object.assign(new Error("none"), { code: "ENODATA" })),
  resolveTxt: async (n) => (n.startsWith("_mta-sts.") ? [["v=STSv1; id=1"]] : Promise.reject(Object.assign(new Error(n), { code: "ENODATA" }))),
  resolveCname: async () => [],
  resolveSrv: async () => [],
};

test("MTA-STS enforce: verified TLS to a matching MX delivers; a non-matching MX or an untrusted certificate defers", async () => {
  const fetched: string[] = [];
  const policies: Record<string, string> = {
    "sts.test": "version: STSv1\nmode: enforce\nmx: localhost\nmax_age: 3600\n",
    "elsewhere.sts.test": "version: STSv1\nmode: enforce\nmx: mx.elsewhere.example\nmax_age: 3600\n",
  };
  const fetchPolicy = async (url: string): Promise<string> => {
    fetched.push(url);
    const d = /^https:\/\/mta-sts\.(.*)\/\.well-known\/mta-sts\.txt$/.exec(url)![1]!;
    return policies[d] ?? policies["sts.test"]!;
  };
  const common = { resolver: stsResolver, fetchPolicy, mxPort: peer.ports.smtp };
  const trusting = runner({}, { ...common, ca: [peer.caCert] });
  try {
    const ok = await store.enqueue({ sender: "sam@sender.test", recipients: ["stan@sts.test"], domain: "sts.test", body: message("sam@sender.test", "stan@sts.test", "sts ok") });
    await until("delivery under MTA-STS", async () => (await store.getQueued(ok.id)) === null || null);
    assert.ok(fetched.includes("https://mta-sts.sts.test/.well-known/mta-sts.txt"));
    const d = events("queue.delivered").find((e) => e.id === ok.id)!;
    assert.match(String(d.tls), /^TLSv1\.[23]$/);
    assert.ok((await allMessagesOf(peer, "stan@sts.test")).some((m) => m.includes("Subject: sts ok")));

    const nomatch = await store.enqueue({ sender: "sam@sender.test", recipients: ["x@elsewhere.sts.test"], domain: "elsewhere.sts.test", body: message("sam@sender.test", "x@elsewhere.sts.test", "sts nomatch") });
    const def = await until("deferral", () => events("queue.deferred").find((e) => e.id === nomatch.id));
    assert.match(String(def.reason), /MTA-STS/);
    assert.ok(!events("queue.attempt").some((e) => e.id === nomatch.id), "no connection to an MX outside the policy");
    await store.deleteQueued(nomatch.id);
  } finally {
    await trusting.stop(1000);
  }
  // Without trusting the peer's (self-signed) certificate, enforce mode must not deliver.
  const untrusting = runner({}, common);
  try {
    const bad = await store.enqueue({ sender: "sam@sender.test", recipients: ["stan@sts.test"], domain: "sts.test", body: message("sam@sender.test", "stan@sts.test", "sts untrusted") });
    const def = await until("deferral", () => events("queue.deferred").find((e) => e.id === bad.id));
    assert.match(String(def.reason), /TLS handshake failed/);
    assert.ok(!(await allMessagesOf(peer, "stan@sts.test")).some((m) => m.includes("Subject: sts untrusted")), "never delivered without valid TLS");
    await store.deleteQueued(bad.id);
  } finally {
    await untrusting.stop(1000);
  }
});

test("a bounce for a remote sender is queued from <> and delivered; a message from <> never gets a DSN", async () => {
  const r = runner({ routes: { "refused.test": `127.0.0.1:${refusing.port}`, "remote-sender.test": `127.0.0.1:${bounceSink.port}` } });
  try {
    const q = await store.enqueue({ sender: "ext@remote-sender.test", recipients: ["x@refused.test"], domain: "refused.test", body: message("ext@remote-sender.test", "x@refused.test", "remote bounce") });
    await until("the DSN at the sender's MTA", async () => {
      await until("queue.delivered", () => events("queue.delivered").find((e) => e.domain === "remote-sender.test"));
      return (await bounceSink.messages())[0];
    }).then((dsn) => {
      assert.match(dsn, /^X-Mail-Args: <>$/m, "DSNs use the null reverse-path (RFC 3464 §2)");
      assert.match(dsn, /^X-Rcpt-Args: <ext@remote-sender\.test>$/m);
      assert.match(dsn, /^Final-Recipient: rfc822; x@refused\.test$/m);
      assert.match(dsn, /^Action: failed$/m);
    });
    assert.equal(await store.getQueued(q.id), null);

    const nullSender = await store.enqueue({ sender: "", recipients: ["y@refused.test"], domain: "refused.test", body: message("MAILER-DAEMON@elsewhere", "y@refused.test", "a bounce") });
    await until("the failure", () => events("queue.failed").find((e) => e.id === nullSender.id));
    await until("removal", async () => (await store.getQueued(nullSender.id)) === null || null);
    assert.ok(!events("queue.dsn").some((e) => e.id === nullSender.id), "no DSN about a DSN");
    assert.deepEqual((await store.listQueue()).map((m) => m.domain), [], "nothing queued for <>");
  } finally {
    await r.stop(1000);
  }
});

test("one connection for several messages to a destination (RSET between); 150 recipients go in two transactions", async () => {
  const sink = await startSink();
  try {
    const ids: string[] = [];
    for (const n of [1, 2, 3]) {
      ids.push((await store.enqueue({ sender: "sam@sender.test", recipients: [`u${n}@reuse.test`], domain: "reuse.test", body: message("sam@sender.test", `u${n}@reuse.test`, `reuse ${n}`) })).id);
    }
    const many = Array.from({ length: 150 }, (_, i) => `m${i}@reuse.test`);
    ids.push((await store.enqueue({ sender: "sam@sender.test", recipients: many, domain: "reuse.test", body: message("sam@sender.test", "list@reuse.test", "many") })).id);
    const r = runner({ routes: { "reuse.test": `127.0.0.1:${sink.port}` } });
    try {
      for (const id of ids) await until(`delivery of ${id}`, async () => (await store.getQueued(id)) === null || null);
    } finally {
      await r.stop(1000);
    }
    const attempts = events("queue.attempt").filter((e) => e.domain === "reuse.test");
    assert.equal(attempts.length, 1, "a single connection");
    const dumps = await sink.messages();
    assert.equal(dumps.length, 5, "three messages, and the fourth in two transactions");
    const rcpts = dumps.filter((d) => /^Subject: many$/m.test(d)).map((d) => (d.match(/^X-Rcpt-Args: /gm) ?? []).length).sort((a, b) => a - b);
    assert.deepEqual(rcpts, [50, 100]);
    const delivered = events("queue.delivered").find((e) => e.id === ids[3]);
    assert.equal((delivered!.recipients as string[]).length, 150);
  } finally {
    await sink.stop();
  }
});
