// End to end on the wire (a raw client, exact responses): LOGINDISABLED and LOGIN refused before
// STARTTLS, AUTHENTICATE PLAIN with SASL-IR and a cancelled exchange, CONDSTORE/QRESYNC resync
// after flag changes and expunges in another session, untagged updates at the moments RFC 9051
// §7.5.1 allows, modified UTF-7 names for IMAP4rev1, and malformed / over-long commands refused
// while another session keeps working.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { PASSWORD, RawImap, sampleMessage } from "./imap-helpers.js";

let server: TestServer;

before(async () => {
  server = await startTestServer();
});
after(async () => {
  await server?.stop();
});

async function append(c: RawImap, mailbox: string, msg: string, flags = ""): Promise<string> {
  const n = Buffer.byteLength(msg);
  return c.cmd(`APPEND ${mailbox} ${flags ? `(${flags}) ` : ""}{${n}+}\r\n${msg}`);
}

test("before STARTTLS: LOGINDISABLED, no AUTH=, LOGIN refused; after TLS: AUTH= and LOGIN works", async () => {
  await server.addUser("wire-tls@example.test", PASSWORD);
  const c = await RawImap.connect(server);
  try {
    const caps = await c.cmd("CAPABILITY");
    assert.match(caps, /^\* CAPABILITY .*\bSTARTTLS\b/m);
    assert.match(caps, /\bLOGINDISABLED\b/);
    assert.doesNotMatch(caps, /AUTH=/);
    const refused = await c.login("wire-tls@example.test");
    assert.match(refused, /^t2 NO \[PRIVACYREQUIRED\]/m);
    const auth = await c.cmd("AUTHENTICATE PLAIN " + Buffer.from("\0wire-tls@example.test\0" + PASSWORD).toString("base64"));
    assert.match(auth, /^t3 NO /m);
    await c.startTls(server);
    const caps2 = await c.cmd("CAPABILITY");
    assert.match(caps2, /AUTH=PLAIN/);
    assert.match(caps2, /SASL-IR/);
    assert.doesNotMatch(caps2, /STARTTLS|LOGINDISABLED/);
    assert.match(await c.login("wire-tls@example.test"), /^t\d+ OK \[CAPABILITY /m);
  } finally {
    c.close();
  }
});

test("AUTHENTICATE: SASL-IR, continuation, cancel with *, wrong password", async () => {
  await server.addUser("wire-sasl@example.test", PASSWORD);
  const c = await RawImap.connect(server, { implicitTls: true });
  try {
    const bad = Buffer.from("\0wire-sasl@example.test\0wrong-password").toString("base64");
    assert.match(await c.cmd(`AUTHENTICATE PLAIN ${bad}`), /^t1 NO \[AUTHENTICATIONFAILED\]/m);
    c.send("t2 AUTHENTICATE PLAIN\r\n");
    await c.until((b) => b.startsWith("+"));
    c.take();
    c.send("*\r\n");
    assert.match(await c.tagged("t2"), /^t2 BAD /m);
    // LOGIN with synchronising literals (user names and passwords with special characters).
    const c2 = await RawImap.connect(server, { implicitTls: true });
    try {
      c2.take(); // the greeting
      c2.send(`l1 LOGIN {${"wire-sasl@example.test".length}}\r\n`);
      await c2.until((b) => b.startsWith("+ "));
      c2.take();
      c2.send(`wire-sasl@example.test {${PASSWORD.length}}\r\n`);
      await c2.until((b) => b.startsWith("+ "));
      c2.take();
      c2.send(`${PASSWORD}\r\n`);
      assert.match(await c2.tagged("l1"), /^l1 OK /m);
      // LITERAL+ (RFC 7888): no continuation requests.
      c2.send(`l2 STATUS {5+}\r\nINBOX (MESSAGES)\r\n`);
      assert.match(await c2.tagged("l2"), /^\* STATUS INBOX \(MESSAGES 0\)\r\nl2 OK/m);
    } finally {
      c2.close();
    }
    c.send("t3 AUTHENTICATE PLAIN\r\n");
    await c.until((b) => b.startsWith("+"));
    c.take();
    c.send(Buffer.from("\0wire-sasl@example.test\0" + PASSWORD).toString("base64") + "\r\n");
    assert.match(await c.tagged("t3"), /^t3 OK /m);
    assert.match(await c.cmd("SELECT INBOX"), /OK \[READ-WRITE\]/);
  } finally {
    c.close();
  }
});

test("CONDSTORE/QRESYNC: a client resyncs flag changes and expunges made by another session", async () => {
  await server.addUser("wire-qresync@example.test", PASSWORD);
  const a = await RawImap.connect(server, { implicitTls: true });
  const b = await RawImap.connect(server, { implicitTls: true });
  try {
    await a.login("wire-qresync@example.test");
    await b.login("wire-qresync@example.test");
    for (let i = 1; i <= 5; i++) assert.match(await append(a, "INBOX", sampleMessage(`m${i}`)), /OK \[APPENDUID \d+ \d+\]/);
    assert.match(await a.cmd("ENABLE QRESYNC"), /^\* ENABLED QRESYNC/m);
    // A mailbox nothing happened in still has a positive HIGHESTMODSEQ (RFC 7162 §7), below
    // the MODSEQ of its first change.
    await a.cmd("CREATE Fresh");
    assert.match(await a.cmd("SELECT Fresh"), /OK \[HIGHESTMODSEQ 1\]/);
    await append(a, "Fresh", sampleMessage("first change"));
    assert.match(await a.cmd("FETCH 1 (MODSEQ)"), /^\* 1 FETCH \(UID 1 MODSEQ \(2\)\)/m);
    assert.match(await a.cmd("UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1)"), /^\* 1 FETCH \(UID 1 FLAGS \(\) MODSEQ \(2\)\)/m);
    const sel = await a.cmd("SELECT INBOX");
    const uidValidity = Number(/UIDVALIDITY (\d+)/.exec(sel)![1]);
    const modseq = Number(/HIGHESTMODSEQ (\d+)/.exec(sel)![1]);
    assert.match(sel, /^\* 5 EXISTS/m);
    assert.match(await a.cmd("LOGOUT"), /^\* BYE/m);

    // Another session changes flags of 2 and 4, expunges 3.
    await b.cmd("SELECT INBOX");
    assert.match(await b.cmd("UID STORE 2,4 +FLAGS (\\Answered)"), /^\* 2 FETCH \(FLAGS \(\\Answered\) UID 2\)/m);
    await b.cmd("UID STORE 3 +FLAGS.SILENT (\\Deleted)");
    assert.match(await b.cmd("EXPUNGE"), /^\* 3 EXPUNGE/m);

    // CONDSTORE: STORE with UNCHANGEDSINCE older than the message's MODSEQ is refused per message.
    const cond = await b.cmd(`UID STORE 2 (UNCHANGEDSINCE ${modseq}) +FLAGS (\\Flagged)`);
    assert.match(cond, /OK \[MODIFIED 2\]/);
    const fetched = await b.cmd(`UID FETCH 1:* (FLAGS) (CHANGEDSINCE ${modseq})`);
    assert.match(fetched, /UID 2 .*MODSEQ/);
    assert.doesNotMatch(fetched, /UID 1 /);

    // The first client reconnects and resyncs from its saved state.
    const a2 = await RawImap.connect(server, { implicitTls: true });
    try {
      await a2.login("wire-qresync@example.test");
      await a2.cmd("ENABLE QRESYNC");
      const resync = await a2.cmd(`SELECT INBOX (QRESYNC (${uidValidity} ${modseq} 1:5))`);
      assert.match(resync, /^\* 4 EXISTS/m);
      assert.match(resync, /^\* VANISHED \(EARLIER\) 3\r\n/m);
      assert.match(resync, /^\* 2 FETCH \(UID 2 FLAGS \(\\Answered\) MODSEQ \(\d+\)\)/m);
      assert.match(resync, /^\* 3 FETCH \(UID 4 FLAGS \(\\Answered\) MODSEQ \(\d+\)\)/m);
      assert.doesNotMatch(resync, /UID 1 FLAGS|UID 5 FLAGS/);
      const vanished = await a2.cmd(`UID FETCH 1:* (FLAGS) (CHANGEDSINCE ${modseq} VANISHED)`);
      assert.match(vanished, /^\* VANISHED \(EARLIER\) 3\r\n/m);
    } finally {
      a2.close();
    }
  } finally {
    a.close();
    b.close();
  }
});

test("untagged updates: no EXPUNGE during FETCH, sent on NOOP; flag changes pushed", async () => {
  await server.addUser("wire-updates@example.test", PASSWORD);
  const a = await RawImap.connect(server, { implicitTls: true });
  const b = await RawImap.connect(server, { implicitTls: true });
  try {
    await a.login("wire-updates@example.test");
    await b.login("wire-updates@example.test");
    for (let i = 1; i <= 3; i++) await append(a, "INBOX", sampleMessage(`u${i}`));
    await a.cmd("SELECT INBOX");
    await b.cmd("SELECT INBOX");
    await b.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)");
    await b.cmd("STORE 3 +FLAGS.SILENT (\\Flagged)");
    await b.cmd("EXPUNGE");
    await append(b, "INBOX", sampleMessage("u4"));

    // RFC 9051 §7.5.1: a FETCH by sequence number must not see EXPUNGE, but may see EXISTS.
    const f = await a.cmd("FETCH 1:* (UID)");
    assert.doesNotMatch(f, /EXPUNGE/);
    // Message 1 is gone from the store, but the others keep their numbers until it is announced.
    assert.match(f, /^\* 2 FETCH \(UID 2\)/m);
    assert.match(f, /^\* 3 FETCH \(UID 3\)/m);
    assert.match(f, /^\* 4 EXISTS/m);
    const n = await a.cmd("NOOP");
    assert.match(n, /^\* 1 EXPUNGE/m);
    // After the expunge, message 3 (UID 3) is number 2.
    const f2 = await a.cmd("FETCH 2 (UID FLAGS)");
    assert.match(f2, /^\* 2 FETCH \(UID 3 FLAGS \(\\Flagged\)\)/m);
  } finally {
    a.close();
    b.close();
  }
});

test("IMAP4rev1 clients see modified UTF-7 names; IMAP4rev2 clients UTF-8", async () => {
  await server.addUser("wire-utf7@example.test", PASSWORD);
  const c = await RawImap.connect(server, { implicitTls: true });
  try {
    await c.login("wire-utf7@example.test");
    assert.match(await c.cmd('CREATE "Entw&APw-rfe"'), /OK/);
    assert.match(await c.cmd('LIST "" "Entw*"'), /^\* LIST \(\\HasNoChildren\) "\/" Entw&APw-rfe/m);
    assert.match(await c.cmd("ENABLE IMAP4rev2"), /ENABLED IMAP4rev2/);
    const l = await c.cmd('LIST "" "Entw*"');
    assert.ok(Buffer.from(l, "latin1").toString("utf8").includes('"/" "Entwürfe"') || Buffer.from(l, "latin1").toString("utf8").includes("Entwürfe"), l);
    const boxes = await server.services.store.listMailboxes((await server.services.store.getAccount("wire-utf7@example.test"))!.id);
    assert.ok(boxes.some((m) => m.name === "Entwürfe"));
  } finally {
    c.close();
  }
});

test("malformed and over-long commands are refused; another session keeps working", async () => {
  await server.addUser("wire-bad@example.test", PASSWORD);
  const good = await RawImap.connect(server, { implicitTls: true });
  const bad = await RawImap.connect(server, { implicitTls: true });
  try {
    await good.login("wire-bad@example.test");
    await good.cmd("SELECT INBOX");
    await bad.login("wire-bad@example.test");

    assert.match(await bad.cmd("FROBNICATE"), /^t\d+ BAD .*Unknown command/m);
    assert.match(await bad.cmd("FETCH 1 (FLAGS)"), /^t\d+ BAD .*not allowed in this state/m);
    assert.match(await bad.cmd('SELECT "unterminated'), /^t\d+ BAD /m);
    assert.match(await bad.cmd("SELECT INBOX (QRESYNC (1 2))"), /^t\d+ BAD /m); // QRESYNC not enabled
    await bad.cmd("SELECT INBOX");
    assert.match(await bad.cmd("FETCH 1:* (FLAGS BODY[1.HEADER.FIELDS ()])"), /^t\d+ BAD /m);
    assert.match(await bad.cmd("STORE 1 +FLAGS (\\Recent)"), /^t\d+ (BAD|OK)/m);
    assert.match(await bad.cmd("SEARCH CHARSET KOI8-R SUBJECT x"), /^t\d+ NO \[BADCHARSET/m);
    bad.send("\r\n");
    assert.match(await bad.until((b) => /BAD/.test(b)), /^\* BAD /m);
    bad.take();
    // A synchronising literal larger than allowed is refused before it is sent.
    assert.match(await bad.cmd("LOGIN {999999999}"), /^t\d+ BAD/m);
    assert.match(await good.cmd("NOOP"), /OK NOOP completed/);

    // A line over the limit (64 KiB) ends that session with BYE, the other keeps working.
    bad.send("t99 NOOP " + "x".repeat(70 * 1024) + "\r\n");
    const bye = await bad.until((b) => /\* BYE/.test(b) || bad.closed);
    assert.match(bye, /\* BYE .*too long/i);
    await bad.until(() => bad.closed);
    assert.ok(bad.closed);
    assert.match(await good.cmd("NOOP"), /OK NOOP completed/);
    assert.match(await append(good, "INBOX", sampleMessage("still fine")), /OK \[APPENDUID/);
  } finally {
    good.close();
    bad.close();
  }
});

test("a large APPEND is streamed and read back exactly; over quota it is refused before the upload", async () => {
  const account = await server.addUser("wire-big@example.test", PASSWORD);
  const c = await RawImap.connect(server, { implicitTls: true });
  try {
    await c.login("wire-big@example.test");
    const line = "The quick brown fox jumps over the lazy dog 0123456789.\r\n";
    const msg = sampleMessage("big one", line.repeat(Math.ceil((3 * 1024 * 1024) / line.length)));
    const size = Buffer.byteLength(msg);
    c.send(`a1 APPEND INBOX {${size}}\r\n`);
    await c.until((b) => /\+ /.test(b));
    c.take();
    c.send(msg + "\r\n");
    assert.match(await c.tagged("a1", 30_000), /^a1 OK \[APPENDUID \d+ 1\]/m);
    await c.cmd("SELECT INBOX");
    const f = await c.cmd("FETCH 1 (RFC822.SIZE BODY.PEEK[]<1000000.20> BODY.PEEK[])", 30_000);
    assert.match(f, new RegExp(`RFC822\\.SIZE ${size} `));
    assert.ok(f.includes(`BODY[]<1000000> {20}\r\n${msg.slice(1000000, 1000020)}`));
    assert.ok(f.includes(`BODY[] {${size}}\r\n${msg})`));

    // Quota: refused before "+", so the client never uploads it.
    await server.services.store.setQuota(account.id, size + 1000);
    c.send(`a2 APPEND INBOX {${size}}\r\n`);
    const r = await c.tagged("a2");
    assert.match(r, /^a2 NO \[OVERQUOTA\]/m);
    assert.doesNotMatch(r, /^\+ /m);
    assert.match(await c.cmd("NOOP"), /OK/);
  } finally {
    c.close();
  }
});

test("AUTHENTICATE SCRAM-SHA-256 (RFC 7677) with SASL-IR: the server signature is verified", async () => {
  const user = "wire-scram@example.test";
  await server.addUser(user, PASSWORD);
  const c = await RawImap.connect(server, { implicitTls: true });
  try {
    c.take();
    const cnonce = randomBytes(18).toString("base64");
    const clientFirstBare = `n=${user},r=${cnonce}`;
    c.send(`s1 AUTHENTICATE SCRAM-SHA-256 ${Buffer.from("n,," + clientFirstBare).toString("base64")}\r\n`);
    const first = await c.until((b) => /^\+ \S+\r\n/.test(b));
    c.take();
    const serverFirst = Buffer.from(/^\+ (\S+)/.exec(first)![1]!, "base64").toString();
    const attrs = Object.fromEntries(serverFirst.split(",").map((kv) => [kv[0], kv.slice(2)]));
    assert.ok(attrs.r!.startsWith(cnonce));
    const salted = pbkdf2Sync(PASSWORD, Buffer.from(attrs.s!, "base64"), Number(attrs.i), 32, "sha256");
    const hmac = (k: Buffer, d: string) => createHmac("sha256", k).update(d).digest();
    const clientKey = hmac(salted, "Client Key");
    const storedKey = createHash("sha256").update(clientKey).digest();
    const withoutProof = `c=biws,r=${attrs.r}`;
    const authMessage = `${clientFirstBare},${serverFirst},${withoutProof}`;
    const sig = hmac(storedKey, authMessage);
    const proof = Buffer.from(clientKey.map((b, i) => b ^ sig[i]!));
    c.send(Buffer.from(`${withoutProof},p=${proof.toString("base64")}`).toString("base64") + "\r\n");
    const fin = await c.until((b) => /^\+ \S+\r\n/.test(b) || /^s1 /m.test(b));
    c.take();
    const serverFinal = Buffer.from(/^\+ (\S+)/.exec(fin)![1]!, "base64").toString();
    assert.equal(serverFinal, `v=${hmac(hmac(salted, "Server Key"), authMessage).toString("base64")}`);
    c.send("\r\n");
    assert.match(await c.tagged("s1"), /^s1 OK \[CAPABILITY /m);
    assert.match(await c.cmd("SELECT INBOX"), /OK \[READ-WRITE\]/);
  } finally {
    c.close();
  }
});

test("a new keyword is announced in FLAGS first; bad sequence numbers are BAD; EXPUNGE reports HIGHESTMODSEQ", async () => {
  await server.addUser("wire-flags@example.test", PASSWORD);
  const a = await RawImap.connect(server, { implicitTls: true });
  const b = await RawImap.connect(server, { implicitTls: true });
  try {
    await a.login("wire-flags@example.test");
    await b.login("wire-flags@example.test");
    assert.match(await a.cmd("SELECT INBOX"), /^\* FLAGS \(\\Answered \\Flagged \\Deleted \\Seen \\Draft\)/m);
    assert.match(await a.cmd("FETCH 1:* (FLAGS)"), /^t\d+ BAD /m); // empty mailbox
    await append(a, "INBOX", sampleMessage("k1"));
    await append(a, "INBOX", sampleMessage("k2"));
    await a.cmd("NOOP");
    assert.match(await a.cmd("FETCH 3 (FLAGS)"), /^t\d+ BAD .*sequence number/m);
    assert.match(await a.cmd("UID FETCH 3:9 (FLAGS)"), /^t\d+ OK /m); // missing UIDs are skipped
    const st = await a.cmd("STORE 1 +FLAGS ($Project)");
    assert.match(st, /^\* FLAGS \(\\Answered \\Flagged \\Deleted \\Seen \\Draft \$Project\)\r\n\* OK \[PERMANENTFLAGS \([^)]*\$Project \\\*\)\][^\r]*\r\n\* 1 FETCH \(FLAGS \(\$Project\)\)/);
    // The other session hears of the keyword as an update, FLAGS first too.
    await b.cmd("SELECT INBOX");
    await a.cmd("STORE 2 +FLAGS ($Later)");
    const n = await b.cmd("NOOP");
    assert.match(n, /^\* FLAGS \([^)]*\$Later\)\r\n[^\r]*PERMANENTFLAGS[^\r]*\r\n\* 2 FETCH \(FLAGS \(\$Later\)\)/m);
    assert.match(await a.cmd("ENABLE CONDSTORE"), /^t\d+ BAD /m); // RFC 5161 §3.1: not once a mailbox is selected
    await a.cmd("FETCH 1 (MODSEQ)"); // a CONDSTORE-enabling command (RFC 7162 §3.1)
    await a.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)");
    assert.match(await a.cmd("EXPUNGE"), /^\* 1 EXPUNGE\r\nt\d+ OK \[HIGHESTMODSEQ \d+\]/m);
  } finally {
    a.close();
    b.close();
  }
});

test("LIST-EXTENDED: SUBSCRIBED with RECURSIVEMATCH (CHILDINFO), SPECIAL-USE selection, RETURN (STATUS)", async () => {
  await server.addUser("wire-list@example.test", PASSWORD);
  const c = await RawImap.connect(server, { implicitTls: true });
  try {
    await c.login("wire-list@example.test");
    await c.cmd("CREATE Lists/rust");
    await c.cmd("CREATE Lists/go");
    await c.cmd("SUBSCRIBE Lists/rust");
    await c.cmd("UNSUBSCRIBE Lists");
    await c.cmd("UNSUBSCRIBE Lists/go"); // new mailboxes start subscribed
    const sub = await c.cmd('LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"');
    assert.match(sub, /^\* LIST \(\\HasChildren\) "\/" Lists \("CHILDINFO" \("SUBSCRIBED"\)\)\r$/m);
    const all = await c.cmd('LIST (SUBSCRIBED) "" "*"');
    assert.match(all, /^\* LIST \(\\HasNoChildren \\Subscribed\) "\/" Lists\/rust\r$/m);
    assert.doesNotMatch(all, /Lists\/go/);
    const su = await c.cmd('LIST (SPECIAL-USE) "" "*" RETURN (STATUS (MESSAGES UIDNEXT))');
    assert.match(su, /^\* LIST \(\\HasNoChildren \\Sent\) "\/" Sent\r\n\* STATUS Sent \(MESSAGES 0 UIDNEXT 1\)\r$/m);
    assert.doesNotMatch(su, /INBOX|Lists/);
    assert.match(await c.cmd('LIST "" ""'), /^\* LIST \(\\Noselect\) "\/" ""\r$/m);
    assert.match(await c.cmd('LSUB "" "*"'), /^\* LSUB \(\) "\/" Lists\/rust\r$/m);
  } finally {
    c.close();
  }
});

test("random command soup never crashes a session: every line gets a tagged or untagged answer", async () => {
  await server.addUser("wire-fuzz@example.test", PASSWORD);
  const c = await RawImap.connect(server, { implicitTls: true });
  const words = ["FETCH", "UID", "STORE", "SEARCH", "SELECT", "LIST", "APPEND", "COPY", "MOVE", "STATUS", "IDLE", "NOOP", "EXPUNGE", "ENABLE",
    "1", "*", "1:*", "$", "0", "4294967296", "(", ")", "[", "]", "<0.5>", "BODY[", "BODY.PEEK[1.2.MIME]", "FLAGS", "+FLAGS", "\\Seen", "\\Recent",
    '"', '"x\\"y"', "NIL", "{3}", "~{2}", "%", "INBOX", "HEADER.FIELDS", "(UNCHANGEDSINCE 1)", "CHARSET", "UTF-8", "OR", "NOT", "ALL", "RETURN", "(MIN)", "\u00e9", "\u0000"];
  let seed = 42;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  try {
    await c.login("wire-fuzz@example.test");
    await append(c, "INBOX", sampleMessage("fuzz"));
    await c.cmd("SELECT INBOX");
    for (let i = 0; i < 300; i++) {
      const parts: string[] = [];
      const n = 1 + rnd(7);
      for (let j = 0; j < n; j++) parts.push(words[rnd(words.length)]!);
      const line = parts.join(rnd(4) === 0 ? "" : " ").replace(/\{\d+\}$/, "x").replace(/[\r\n]/g, "");
      if (/\bIDLE\b/i.test(line)) continue; // IDLE waits for DONE
      const r = await c.cmd(line);
      assert.match(r, /^t\d+ (OK|NO|BAD) /m, `no tagged answer to ${JSON.stringify(line)}`);
      // A valid command between the bad ones: 20 bad commands in a row end the session (by design).
      assert.match(await c.cmd("NOOP"), /OK NOOP completed/, `session lost after ${JSON.stringify(line)}`);
    }
    assert.match(await c.cmd("NOOP"), /OK NOOP completed/);
    assert.equal(server.events().filter((e) => e.event === "session.error").length, 0);
  } finally {
    c.close();
  }
});

test("a mailbox deleted by another session: the IDLE session there is told BYE at once", async () => {
  await server.addUser("wire-del@example.test", PASSWORD);
  const a = await RawImap.connect(server, { implicitTls: true });
  const b = await RawImap.connect(server, { implicitTls: true });
  try {
    await a.login("wire-del@example.test");
    await b.login("wire-del@example.test");
    await b.cmd("CREATE Doomed");
    await a.cmd("SELECT Doomed");
    a.send("i1 IDLE\r\n");
    await a.until((x) => /^\+ idling/m.test(x));
    assert.match(await b.cmd("DELETE Doomed"), /OK/);
    const out = await a.until(() => a.closed, 3000);
    assert.match(out, /^\* BYE .*deleted/m);
    assert.match(await b.cmd("NOOP"), /OK/);
  } finally {
    a.close();
    b.close();
  }
});

test("CREATE-SPECIAL-USE, EXAMINE read-only, CLOSE vs UNSELECT, TRYCREATE, GETQUOTA, NAMESPACE, ID", async () => {
  const account = await server.addUser("wire-misc@example.test", PASSWORD);
  const c = await RawImap.connect(server, { implicitTls: true });
  try {
    assert.match(await c.cmd('ID ("name" "raw-test")'), /^\* ID \("name" "Portcullis"\)/m);
    await c.login("wire-misc@example.test");
    assert.match(await c.cmd('NAMESPACE'), /^\* NAMESPACE \(\("" "\/"\)\) NIL NIL/m);
    assert.match(await c.cmd("CREATE Flagged (USE (\\Flagged))"), /OK/);
    assert.match(await c.cmd("CREATE Bogus (USE (\\Nonsense))"), /^t\d+ NO \[USEATTR\]/m);
    assert.match(await c.cmd('LIST "" Flagged'), /^\* LIST \(\\HasNoChildren \\Flagged\) "\/" Flagged/m);
    assert.match(await c.cmd("CREATE INBOX"), /NO \[ALREADYEXISTS\]/);
    assert.match(await c.cmd("DELETE INBOX"), /^t\d+ NO /m);
    assert.match(await c.cmd("SELECT NoSuchBox"), /NO \[NONEXISTENT\]/);
    for (let i = 0; i < 3; i++) await append(c, "INBOX", sampleMessage(`misc${i}`));

    // EXAMINE: read-only; BODY[] does not set \Seen; STORE is refused.
    const ex = await c.cmd("EXAMINE INBOX");
    assert.match(ex, /OK \[PERMANENTFLAGS \(\)\]/);
    assert.match(ex, /^t\d+ OK \[READ-ONLY\]/m);
    const body = await c.cmd("FETCH 1 (BODY[TEXT] FLAGS)");
    assert.match(body, /FLAGS \(\)/);
    assert.match(await c.cmd("STORE 1 +FLAGS (\\Seen)"), /^t\d+ NO \[READ-ONLY\]/m);
    assert.match(await c.cmd("COPY 1 Nowhere"), /^t\d+ NO \[TRYCREATE\]/m);

    // UNSELECT keeps \Deleted messages; CLOSE expunges them without EXPUNGE responses.
    await c.cmd("SELECT INBOX");
    await c.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)");
    assert.match(await c.cmd("UNSELECT"), /OK/);
    assert.match(await c.cmd("STATUS INBOX (MESSAGES DELETED)"), /MESSAGES 3 DELETED 1/);
    assert.match(await c.cmd("FETCH 1 (FLAGS)"), /^t\d+ BAD .*Select a mailbox first/m);
    await c.cmd("SELECT INBOX");
    assert.match(await c.cmd("CHECK"), /OK/);
    const close = await c.cmd("CLOSE");
    assert.doesNotMatch(close, /EXPUNGE/);
    assert.match(await c.cmd("STATUS INBOX (MESSAGES DELETED)"), /MESSAGES 2 DELETED 0/);

    // RENAME INBOX to one of its children: the messages move, INBOX stays (empty).
    assert.match(await c.cmd("RENAME INBOX INBOX/Old"), /OK/);
    assert.match(await c.cmd("STATUS INBOX/Old (MESSAGES)"), /MESSAGES 2/);
    assert.match(await c.cmd("STATUS INBOX (MESSAGES)"), /MESSAGES 0/);
    assert.match(await c.cmd("RENAME Flagged Flagged/sub"), /^t\d+ NO \[CANNOT\]/m);

    await server.services.store.setQuota(account.id, 1024 * 1024);
    assert.match(await c.cmd('GETQUOTA ""'), /^\* QUOTA "" \(STORAGE \d+ 1024\)/m);
    assert.match(await c.cmd("GETQUOTAROOT INBOX"), /^\* QUOTAROOT INBOX ""\r\n\* QUOTA "" \(STORAGE \d+ 1024\)/m);
  } finally {
    c.close();
  }
});

test("ESEARCH RETURN (MIN MAX COUNT ALL), SEARCHRES $ reused by FETCH and UID STORE", async () => {
  await server.addUser("wire-esearch@example.test", PASSWORD);
  const c = await RawImap.connect(server, { implicitTls: true });
  try {
    await c.login("wire-esearch@example.test");
    for (let i = 1; i <= 6; i++) await append(c, "INBOX", sampleMessage(`es${i}`), i % 2 === 0 ? "\\Flagged" : "");
    await c.cmd("SELECT INBOX");
    assert.match(await c.cmd("SEARCH RETURN (MIN MAX COUNT ALL) FLAGGED"), /^\* ESEARCH \(TAG "t\d+"\) MIN 2 MAX 6 COUNT 3 ALL 2,4,6\r$/m);
    assert.match(await c.cmd("UID SEARCH RETURN (COUNT) NOT FLAGGED"), /^\* ESEARCH \(TAG "t\d+"\) UID COUNT 3\r$/m);
    assert.match(await c.cmd("SEARCH FLAGGED"), /^\* SEARCH 2 4 6\r$/m); // IMAP4rev1 form without RETURN
    const saved = await c.cmd("SEARCH RETURN (SAVE) SUBJECT es3");
    assert.doesNotMatch(saved, /ESEARCH/); // RFC 5182: SAVE alone sends no ESEARCH
    assert.match(await c.cmd("FETCH $ (UID)"), /^\* 3 FETCH \(UID 3\)\r$/m);
    assert.match(await c.cmd("UID STORE $ +FLAGS (\\Answered)"), /^\* 3 FETCH \(FLAGS \(\\Answered\) UID 3\)/m);
    assert.match(await c.cmd("SEARCH ANSWERED"), /^\* SEARCH 3\r$/m);
  } finally {
    c.close();
  }
});

/** Splits a response stream into lines, skipping literal data by its announced length; throws
 * when the framing is broken. Returns the non-literal lines. */
function framedLines(raw: string): string[] {
  const out: string[] = [];
  let i = 0;
  const buf = Buffer.from(raw, "latin1");
  while (i < buf.length) {
    const eol = buf.indexOf("\r\n", i, "latin1");
    if (eol < 0) throw new Error("unterminated line");
    const line = buf.toString("latin1", i, eol);
    out.push(line);
    i = eol + 2;
    const m = /\{(\d+)\}$/.exec(line);
    if (m) i += Number(m[1]);
  }
  return out;
}

test("FETCH BODY[] racing an EXPUNGE in another session keeps the literal framing intact", async () => {
  await server.addUser("wire-race@example.test", PASSWORD);
  const a = await RawImap.connect(server, { implicitTls: true });
  const b = await RawImap.connect(server, { implicitTls: true });
  try {
    await a.login("wire-race@example.test");
    await b.login("wire-race@example.test");
    for (let i = 0; i < 40; i++) await append(a, "INBOX", sampleMessage(`race${i}`, `line ${i} ${"x".repeat(90)}\r\n`.repeat(3000)));
    await a.cmd("SELECT INBOX");
    await b.cmd("SELECT INBOX");
    await b.cmd("STORE 1:* +FLAGS.SILENT (\\Deleted)");
    a.take();
    // A stops reading, so its FETCH stalls on backpressure inside the first literal; meanwhile B
    // expunges everything (rows deleted, files unlinked); then A reads on.
    a.pause();
    a.send("f1 FETCH 1:40 (UID BODY.PEEK[] BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\n");
    await new Promise((r) => setTimeout(r, 300));
    assert.match(await b.cmd("EXPUNGE"), /^\* 40 EXPUNGE/m);
    a.resume();
    const r = await a.tagged("f1", 30_000);
    const lines = framedLines(r);
    assert.match(lines[lines.length - 1]!, /^f1 OK /);
    const fetched = lines.filter((l) => /^\* \d+ FETCH \(UID \d+ BODY\[\]/.test(l)).length;
    assert.ok(fetched > 0 && fetched < 40, `${fetched} messages fetched`); // the rest were gone: left out cleanly
    if (process.env.IMAP_DEBUG) console.log("fetched before the expunge won:", fetched);
    assert.doesNotMatch(r, /EXPUNGE/); // RFC 9051 §7.5.1
    const n = await a.cmd("NOOP");
    assert.equal((n.match(/^\* \d+ EXPUNGE/gm) ?? []).length, 40);
  } finally {
    a.close();
    b.close();
  }
});

test("commands pipelined behind STARTTLS are discarded, never run after the handshake", async () => {
  await server.addUser("wire-pipe@example.test", PASSWORD);
  const c = await RawImap.connect(server);
  try {
    await c.startTls(server, `x1 LOGIN wire-pipe@example.test ${PASSWORD}\r\n`);
    await new Promise((r) => setTimeout(r, 200));
    assert.doesNotMatch(c.take(), /x1/); // no answer to the injected command
    assert.match(await c.cmd("SELECT INBOX"), /^t\d+ BAD .*Log in first/m); // it did not log in
    assert.ok(server.events().some((e) => e.event === "tls.starttls.discarded"));
  } finally {
    c.close();
  }
});

test("BINARY (RFC 3516): APPEND a literal8 with NUL octets, FETCH BINARY answers with literal8", async () => {
  await server.addUser("wire-binary@example.test", PASSWORD);
  const c = await RawImap.connect(server, { implicitTls: true });
  try {
    await c.login("wire-binary@example.test");
    const msg = Buffer.concat([
      Buffer.from("Subject: binary\r\nMIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n"),
      Buffer.from([0x41, 0x00, 0x42, 0x0d, 0x0a]),
    ]);
    c.take();
    c.send(`b1 APPEND INBOX ~{${msg.length}}\r\n`);
    await c.until((b) => b.startsWith("+"));
    c.take();
    c.send(Buffer.concat([msg, Buffer.from("\r\n")]));
    assert.match(await c.tagged("b1"), /^b1 OK \[APPENDUID \d+ 1\]/m);
    await c.cmd("SELECT INBOX");
    const f = await c.cmd("FETCH 1 (BINARY.SIZE[1] BINARY.PEEK[1])");
    assert.ok(f.includes("BINARY.SIZE[1] 5 BINARY[1] ~{5}\r\nA\u0000B\r\n)"), JSON.stringify(f));
  } finally {
    c.close();
  }
});

test("header SEARCH on messages stored without a structure (as SMTP delivers them)", async () => {
  const account = await server.addUser("wire-unparsed@example.test", PASSWORD);
  const { store } = server.services;
  const inbox = (await store.getMailbox(account.id, "INBOX"))!;
  const long = "X-Filler: " + "y".repeat(900) + "\r\n";
  await store.appendMessage(inbox.id, { body: Buffer.from(sampleMessage("Quarterly report", "numbers\r\n")) });
  await store.appendMessage(inbox.id, { body: Buffer.from(long.repeat(100) + sampleMessage("Huge header", "x\r\n")) }); // header > 64 KiB
  await store.appendMessage(inbox.id, { body: Buffer.from("Subject: =?UTF-8?Q?Caf=C3=A9?=\r\nDate: Mon, 2 Mar 2026 09:00:00 +0100\r\n\r\nbody\r\n") });
  const c = await RawImap.connect(server, { implicitTls: true });
  try {
    await c.login("wire-unparsed@example.test");
    await c.cmd("SELECT INBOX");
    assert.match(await c.cmd("UID SEARCH SUBJECT quarterly"), /^\* SEARCH 1\r$/m);
    assert.match(await c.cmd("UID SEARCH SUBJECT huge"), /^\* SEARCH 2\r$/m);
    assert.match(await c.cmd("UID SEARCH FROM bob@example.org"), /^\* SEARCH 1 2\r$/m);
    assert.match(await c.cmd("UID SEARCH CHARSET UTF-8 SUBJECT {5}\r\ncafé"), /^\* SEARCH 3\r$/m);
    assert.match(await c.cmd("UID SEARCH SENTON 2-Mar-2026"), /^\* SEARCH 3\r$/m);
    assert.match(await c.cmd('UID SEARCH HEADER X-Filler ""'), /^\* SEARCH 2\r$/m);
    // FETCH of header-level items reads only the header; a long one falls back to a full parse.
    const f = await c.cmd("FETCH 1:2 (ENVELOPE BODY.PEEK[HEADER.FIELDS (SUBJECT)])");
    assert.match(f, /^\* 1 FETCH \(ENVELOPE \("Sun, 22 Nov 2026 10:00:00 \+0000" "Quarterly report" /m);
    assert.ok(f.includes('BODY[HEADER.FIELDS (SUBJECT)] {29}\r\nSubject: Quarterly report\r\n\r\n)'), f.slice(0, 400));
    assert.ok(f.includes('BODY[HEADER.FIELDS (SUBJECT)] {24}\r\nSubject: Huge header\r\n\r\n)'));
    const bs = await c.cmd("FETCH 1 (BODYSTRUCTURE RFC822.TEXT)");
    if (process.env.IMAP_DEBUG) console.log(JSON.stringify(bs));
    assert.match(bs, /BODYSTRUCTURE \("text" "plain" \("charset" "utf-8"\) NIL NIL "7bit" 9 1 NIL NIL NIL NIL\) RFC822\.TEXT \{9\}\r\nnumbers\r\n FLAGS \(\\Seen\)\)/i); // RFC822.TEXT sets \Seen
  } finally {
    c.close();
  }
});
