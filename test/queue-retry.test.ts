// End to end, outbound retries and TLS (issue 7): a destination answering 4xx is retried with
// backoff and delivered once it accepts (smtp-sink started with -r RCPT, then replaced by one that
// accepts on the same port); one that never accepts gets a delay DSN, then a failure DSN when the
// lifetime ends; a destination offering STARTTLS gets the mail over TLS (a second Portcullis as
// the receiving MX); one whose TLS handshake fails after offering STARTTLS is deferred, never sent
// in plain text (a tiny peer written here: no Debian tool offers STARTTLS and then breaks it).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { startSink, freePort, submit, until, inboxOf, allMessagesOf, type Sink } from "./fixtures/queue-peers.js";

const ALICE = "alice@example.test";
const ALICE_PW = "alice-pass-9b3d7e2c";

let srv: TestServer;
let peer: TestServer; // a second Portcullis, receiving for tls.test on its MX port (STARTTLS offered)
let later: Sink;
let laterPort: number;
let never: Sink;
let broken: { server: Server; port: number; commands: string[] };

/** Offers STARTTLS, then answers the handshake with plain text. Records the commands it sees. */
async function brokenTlsPeer(): Promise<{ server: Server; port: number; commands: string[] }> {
  const commands: string[] = [];
  const server = createServer((s: Socket) => {
    s.write("220 broken.test ESMTP\r\n");
    let buf = "";
    s.on("data", (d: Buffer) => {
      buf += d.toString("latin1");
      let i: number;
      while ((i = buf.indexOf("\r\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        commands.push(line);
        const verb = line.split(" ")[0]!.toUpperCase();
        if (verb === "EHLO") s.write("250-broken.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n");
        else if (verb === "STARTTLS") {
          s.write("220 2.0.0 go ahead\r\n");
          s.write("this is not a TLS server hello\r\n");
          s.end();
          return;
        } else if (verb === "QUIT") s.end("221 bye\r\n");
        else s.write("250 ok\r\n");
      }
    });
    s.on("error", () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, port: (server.address() as { port: number }).port, commands };
}

before(async () => {
  laterPort = await freePort();
  later = await startSink({ port: laterPort, args: ["-r", "RCPT"] }); // every RCPT: 450 4.3.0
  never = await startSink({ args: ["-r", "RCPT"] });
  broken = await brokenTlsPeer();
  peer = await startTestServer();
  await peer.services.store.addDomain("tls.test");
  await peer.addUser("tina@tls.test", "tina-pass-1f4a9c3e");
  srv = await startTestServer({
    config: {
      outbound: {
        routes: {
          "later.test": `127.0.0.1:${laterPort}`,
          "never.test": `127.0.0.1:${never.port}`,
          "tls.test": `127.0.0.1:${peer.ports.smtp}`,
          "broken.test": `127.0.0.1:${broken.port}`,
        },
        retry_initial: "1s",
        retry_max: "2s",
        lifetime: "8s",
        delay_notice_after: "3s",
      },
    },
  });
  await srv.addUser(ALICE, ALICE_PW);
});

after(async () => {
  await srv?.stop();
  await peer?.stop();
  await Promise.all([later?.stop(), never?.stop(), new Promise((r) => broken?.server.close(r))]);
});

const events = (name: string): Array<Record<string, unknown>> => srv.events().filter((e) => e.event === name);

test("4xx, then the destination accepts: retried with backoff and delivered once", async () => {
  await submit(srv, ALICE, ALICE_PW, { to: "lou@later.test", subject: "Try again", text: "patience\n" });
  const deferred = await until("queue.deferred", () => events("queue.deferred").find((e) => e.domain === "later.test"));
  assert.match(String(deferred.reason), /^4\d\d /);
  const next = Date.parse(String(deferred.next));
  assert.ok(next > Date.now() - 2_000 && next <= Date.now() + 2_000, `next attempt about 1 s later: ${String(deferred.next)}`);
  const [queued] = (await srv.services.store.listQueue()).filter((m) => m.domain === "later.test");
  assert.ok(queued);
  assert.ok(queued.attempts >= 1);
  assert.equal(queued.recipients[0]!.status, "pending");
  assert.match(queued.recipients[0]!.lastReply ?? "", /^4\d\d /);

  // The destination comes back, accepting.
  await later.stop();
  later = await startSink({ port: laterPort });
  await until("queue.delivered", () => events("queue.delivered").find((e) => e.domain === "later.test"));
  const [dump] = await later.messages(); // complete: smtp-sink answered 250 after writing it
  assert.match(dump!, /^Subject: Try again$/m);
  await until("the queue to empty", async () => (await srv.services.store.listQueue()).every((m) => m.domain !== "later.test"));
  const d = events("queue.delivered").filter((e) => e.domain === "later.test");
  assert.equal(d.length, 1);
  assert.ok(!events("queue.failed").some((e) => e.domain === "later.test"));
});

test("4xx until the lifetime ends: one delay DSN, then a failure DSN, both in the sender's INBOX", async () => {
  const start = (await inboxOf(srv, ALICE)).length;
  await submit(srv, ALICE, ALICE_PW, { to: "nat@never.test", subject: "Never accepted", text: "sorry\n" });
  const dsns = await until(
    "two notices",
    async () => {
      const inbox = (await inboxOf(srv, ALICE)).slice(start).filter((m) => m.includes("nat@never.test"));
      return inbox.length >= 2 ? inbox : null;
    },
    30_000,
  );
  const [delay, failure] = dsns;
  assert.match(delay!, /^Subject: Delivery Status Notification \(Delay\)\r$/m);
  assert.match(delay!, /^Action: delayed\r$/m);
  assert.match(delay!, /^Status: 4\.\d+\.\d+\r$/m);
  assert.match(delay!, /^Will-Retry-Until: /m);
  assert.match(failure!, /^Subject: Undelivered Mail Returned to Sender\r$/m);
  assert.match(failure!, /^Action: failed\r$/m);
  assert.match(failure!, /^Status: 4\.4\.7\r$/m, "delivery time expired (RFC 3463 X.4.7)");
  assert.match(failure!, /^Diagnostic-Code: smtp; 4\d\d /m);
  await until("the queue to empty", async () => (await srv.services.store.listQueue()).every((m) => m.domain !== "never.test"));
  const id = events("queue.deferred").find((e) => e.domain === "never.test")!.id;
  assert.equal(events("queue.dsn").filter((e) => e.id === id && e.kind === "delay").length, 1, "one delay notice only");
  assert.equal(events("queue.dsn").filter((e) => e.id === id && e.kind === "failure").length, 1);
  const attempts = events("queue.deferred").filter((e) => e.domain === "never.test").length;
  assert.ok(attempts >= 3 && attempts <= 7, `backoff 1 s, 2 s, 2 s... within 8 s: ${attempts} deferrals`);
});

test("a destination offering STARTTLS gets the message over TLS", async () => {
  await submit(srv, ALICE, ALICE_PW, { to: "tina@tls.test", subject: "Over TLS", text: "encrypted hop\n" });
  // The receiving Portcullis may file it as Junk (example.test is its own domain, with no DMARC
  // record in DNS there): what matters here is that it arrived, over TLS.
  const msg = await until("the message in tina's mailbox", async () => (await allMessagesOf(peer, "tina@tls.test"))[0]);
  assert.match(msg, /^Subject: Over TLS\r$/m);
  assert.match(msg, /^DKIM-Signature: /m);
  const delivered = await until("queue.delivered", () => events("queue.delivered").find((e) => e.domain === "tls.test"));
  assert.match(String(delivered.tls), /^TLSv1\.[23]$/);
});

test("STARTTLS offered but the handshake fails: deferred, never retried in plain text", async () => {
  await submit(srv, ALICE, ALICE_PW, { to: "bo@broken.test", subject: "Not in the clear", text: "secret\n" });
  const deferred = await until("queue.deferred", () => events("queue.deferred").find((e) => e.domain === "broken.test"));
  assert.match(String(deferred.reason), /TLS/);
  await until("a second attempt", () => events("queue.deferred").filter((e) => e.domain === "broken.test").length >= 2 || null, 10_000);
  assert.ok(broken.commands.includes("STARTTLS"));
  assert.ok(!broken.commands.some((c) => /^(MAIL|RCPT|DATA)/i.test(c)), broken.commands.join(" | "));
  const [queued] = (await srv.services.store.listQueue()).filter((m) => m.domain === "broken.test");
  assert.ok(queued, "still queued");
  await srv.services.store.deleteQueued(queued.id);
});
