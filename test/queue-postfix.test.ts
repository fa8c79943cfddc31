// End to end, outbound to a real Postfix (Debian's package, a private instance on a high port)
// that offers STARTTLS: the runner upgrades the connection, Postfix records the TLS session in its
// Received: header and delivers to a Maildir, and the DKIM signature survives the hop (verified by
// python3-dkim against the record `portcullis dns` prints).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { runCli } from "./helpers/cli.js";
import { submit, until, pythonDkimVerify } from "./fixtures/queue-peers.js";
import { startPostfix, type Postfix } from "./fixtures/queue-postfix.js";

const ALICE = "alice@example.test";
const ALICE_PW = "alice-pass-3f8a2d6b";
let srv: TestServer;
let postfix: Postfix;

before(async () => {
  postfix = await startPostfix({ domain: "postfix.test", users: ["pat"] });
  srv = await startTestServer({ config: { outbound: { routes: { "postfix.test": `127.0.0.1:${postfix.port}` }, retry_initial: "1s" } } });
  await srv.addUser(ALICE, ALICE_PW);
});
after(async () => {
  await srv?.stop();
  await postfix?.stop();
});

test("delivered to Postfix over STARTTLS; the DKIM signature verifies after the hop", async () => {
  await submit(srv, ALICE, ALICE_PW, { to: "Pat <pat@postfix.test>", subject: "Hello Postfix", text: "over TLS, signed\n" });
  const [msg] = await until("delivery into pat's Maildir", async () => {
    const m = await postfix.messages("pat");
    return m.length > 0 ? m : null;
  }, 30_000).catch(async (e: Error) => {
    throw new Error(`${e.message}\nmaillog:\n${await postfix.maillog()}`);
  });
  assert.match(msg!, /^Subject: Hello Postfix$/m);
  // Postfix's own record of the session (smtpd_tls_received_header).
  assert.match(msg!, /^Received: from localhost \(.*\)\n\t\(using TLSv1\.[23] with cipher /m);
  const delivered = srv.events().find((e) => e.event === "queue.delivered" && e.domain === "postfix.test")!;
  assert.match(String(delivered.tls), /^TLSv1\.[23]$/);
  assert.match(String(delivered.reply), /^250 2\.0\.0 Ok: queued as /);

  const r = await runCli(["dns", "--domain", "example.test", "--config", join(srv.dataDir, "portcullis.toml")]);
  const line = r.stdout.split("\n").find((l) => l.startsWith("portcullis._domainkey.example.test."))!;
  const txt = [...line.matchAll(/"([^"]*)"/g)].map((m) => m[1]).join("");
  const wire = Buffer.from(msg!.replace(/\r?\n/g, "\r\n"));
  const v = await pythonDkimVerify(wire, "portcullis._domainkey.example.test", txt);
  assert.ok(v.ok, v.out);
});
