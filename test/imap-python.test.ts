// End to end with Python's imaplib (a client nobody here wrote), IMAP4rev1 style: IMAP4 on the
// plain port refuses LOGIN until starttls(), then APPEND/FETCH (partial BODY[], ENVELOPE,
// BODYSTRUCTURE)/SEARCH/STORE/COPY/MOVE/EXPUNGE, STATUS, LSUB and GETQUOTAROOT; IMAP4_SSL on the
// implicit-TLS port.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { runPython } from "./fixtures/pop3-raw.js";
import { PASSWORD } from "./imap-helpers.js";

let server: TestServer;

before(async () => {
  server = await startTestServer();
});
after(async () => {
  await server?.stop();
});

const SCRIPT = String.raw`
import imaplib, ssl, os, json, sys
host = "127.0.0.1"
ctx = ssl.create_default_context(cafile=os.environ["CA"])
ctx.check_hostname = False  # connecting by IP; the chain is still verified against the CA
out = {}
user, pw = os.environ["USER_ADDR"], os.environ["USER_PASS"]

M = imaplib.IMAP4(host, int(os.environ["IMAP_PORT"]))
out["caps_before"] = list(M.capabilities)
try:
    M.login(user, pw)
    out["login_before_tls"] = "accepted"
except imaplib.IMAP4.error as e:
    out["login_before_tls"] = str(e)
M.starttls(ctx)
out["caps_after"] = list(M.capabilities)
out["login"] = M.login(user, pw)[0]
msg = (b"From: Dora <dora@example.org>\r\nTo: " + user.encode() + b"\r\nSubject: python test\r\n"
       b"Date: Tue, 24 Nov 2026 12:00:00 +0000\r\nMIME-Version: 1.0\r\n"
       b"Content-Type: multipart/alternative; boundary=b1\r\n\r\n"
       b"--b1\r\nContent-Type: text/plain\r\n\r\nplain words here\r\n"
       b"--b1\r\nContent-Type: text/html\r\n\r\n<p>html words</p>\r\n--b1--\r\n")
out["append"] = M.append("INBOX", "(\\Draft)", imaplib.Time2Internaldate(1700000000), msg)[1][0].decode()
M.append("INBOX", None, None, b"Subject: second\r\n\r\nsecond body\r\n")
typ, data = M.select("INBOX")
out["exists"] = data[0].decode()
typ, data = M.fetch("1", "(BODY.PEEK[]<0.20> BODY.PEEK[2] ENVELOPE BODYSTRUCTURE FLAGS)")
out["fetch"] = [x.decode() if isinstance(x, bytes) else [y.decode() for y in x] for x in data]
out["search_subject"] = M.search(None, "SUBJECT", '"python test"')[1][0].decode()
out["search_text"] = M.search(None, "TEXT", '"html words"')[1][0].decode()
out["search_draft"] = M.search(None, "DRAFT")[1][0].decode()
out["search_not"] = M.uid("SEARCH", None, "NOT", "DRAFT")[1][0].decode()
out["store"] = M.store("2", "+FLAGS", "(\\Flagged custom1)")[1][0].decode()
M.uid("COPY", "1", "Archive")
out["copy"] = M.response("COPYUID")[1]
out["move"] = M.uid("MOVE", "2", "Trash")[0]
out["copy_missing"] = M.copy("1", "NoSuchBox")[0]
out["status"] = M.status("Archive", "(MESSAGES UIDNEXT UNSEEN)")[1][0].decode()
M.store("1", "+FLAGS", "(\\Deleted)")
out["expunge"] = M.expunge()[1]
out["exists_after"] = M.select("INBOX")[1][0].decode()
M.subscribe("Archive")
out["lsub"] = [x.decode() for x in M.lsub()[1]]
out["quotaroot"] = [[y.decode() for y in x] for x in M.getquotaroot("INBOX")[1]]
out["logout"] = M.logout()[0]

S = imaplib.IMAP4_SSL(host, int(os.environ["IMAPS_PORT"]), ssl_context=ctx)
S.login(user, pw)
out["ssl_list"] = [x.decode() for x in S.list()[1]]
S.select("Archive", readonly=True)
out["ssl_fetch"] = S.fetch("1", "(BODY[HEADER.FIELDS (SUBJECT)])")[1][0][1].decode()

S.logout()
print(json.dumps(out, default=lambda b: b.decode()))
`;

test("Python imaplib: STARTTLS, then the common commands; IMAP4_SSL", async () => {
  const user = "py-user@example.test";
  await server.addUser(user, PASSWORD);
  const stdout = await runPython(SCRIPT, {
    CA: server.certFile,
    USER_ADDR: user,
    USER_PASS: PASSWORD,
    IMAP_PORT: String(server.ports.imap),
    IMAPS_PORT: String(server.ports.imaps),
  });
  const o = JSON.parse(stdout) as Record<string, unknown>;
  if (process.env.IMAP_DEBUG) console.log(stdout);
  assert.ok((o.caps_before as string[]).includes("LOGINDISABLED"));
  assert.ok((o.caps_before as string[]).includes("STARTTLS"));
  assert.match(String(o.login_before_tls), /PRIVACYREQUIRED|LOGINDISABLED/);
  assert.ok((o.caps_after as string[]).includes("AUTH=PLAIN"));
  assert.equal(o.login, "OK");
  assert.match(String(o.append), /^\[APPENDUID \d+ 1\]/);
  assert.equal(o.exists, "2");
  const fetch = (o.fetch as Array<string | string[]>).flat().join("");
  assert.match(fetch, /BODY\[\]<0> \{20\}/);
  assert.ok(fetch.includes("From: Dora <dora@ex"));
  assert.match(fetch, /BODY\[2\] \{17\}/);
  assert.ok(fetch.includes("<p>html words</p>"));
  assert.ok(fetch.includes('ENVELOPE ("Tue, 24 Nov 2026 12:00:00 +0000" "python test" (("Dora" NIL "dora" "example.org"))'));
  // The CRLF before a boundary belongs to the delimiter (RFC 2046 §5.1.1): 16 and 17 octets.
  assert.match(fetch, /BODYSTRUCTURE \(\("text" "plain" \("charset" "us-ascii"\) NIL NIL "7bit" 16 \d+ NIL NIL NIL NIL\)\("text" "html" \("charset" "us-ascii"\) NIL NIL "7bit" 17 \d+ NIL NIL NIL NIL\) "alternative" \("boundary" "b1"\) NIL NIL NIL\)/i);
  assert.ok(fetch.includes("FLAGS (\\Draft)"), fetch); // PEEK: \Seen not set
  assert.equal(o.search_subject, "1");
  assert.equal(o.search_text, "1");
  assert.equal(o.search_draft, "1");
  assert.equal(o.search_not, "2");
  assert.match(String(o.store), /^2 \(FLAGS \(\\Flagged custom1\)\)$/);
  assert.match(JSON.stringify(o.copy), /^\["\d+ 1 1"\]$/); // COPYUID uidvalidity 1 1
  assert.equal(o.move, "OK");
  assert.equal(o.copy_missing, "NO");
  assert.match(String(o.status), /^Archive \(MESSAGES 1 UIDNEXT 2 UNSEEN 1\)$/);
  assert.deepEqual(o.expunge, ["2", "1"]); // imaplib collects the EXPUNGE of the MOVE too
  assert.equal(o.exists_after, "0");
  assert.ok((o.lsub as string[]).some((l) => l.endsWith('"/" Archive')));
  assert.deepEqual(o.quotaroot, [['INBOX ""'], ['"" ()']]);
  assert.equal(o.logout, "BYE");
  assert.ok((o.ssl_list as string[]).some((l) => l === '(\\HasNoChildren \\Trash) "/" Trash'));
  assert.equal(o.ssl_fetch, "Subject: python test\r\n\r\n");
});
