// End to end: SEARCH on header fields and sent dates (RFC 9051 §6.4.4 FROM, TO, CC, BCC, SUBJECT,
// HEADER, SENT*), answered from the shared mailbox listing and header records
// (src/imap/session/views.ts, headers.ts), equals what the per-message evaluator over the parsed
// message answers (searchview.ts, the path SEARCH took before those caches), on tricky headers:
// encoded words, raw UTF-8, case, folded lines, missing fields, repeated fields, trace fields the
// stored structure leaves out, headers past the stored 16 KiB and past the 64 KiB header probe,
// and messages stored without a structure (parsed = null, as a message too large to parse at
// delivery is). Each program runs cold, warm (cached), and after flag changes and expunges.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { PASSWORD, RawImap } from "./imap-helpers.js";
import { CommandParser, type ParseResult } from "../src/imap/parser.js";
import { compileSearch, type SearchKey } from "../src/imap/search.js";
import { searchView } from "../src/imap/searchview.js";
import { parseHeaderFields, parseMessage } from "../src/imap/mime.js";
import { toWire } from "../src/imap/session/modseq.js";

let server: TestServer;
const USER = "headers@example.test";

before(async () => {
  server = await startTestServer();
  await server.addUser(USER, PASSWORD);
});

after(async () => {
  await server?.stop();
});

const filler = (n: number, width: number): string =>
  Array.from({ length: n }, (_, i) => `X-Filler-${i}: ${"f".repeat(width)}\r\n`).join("");

/** Header blocks (the body is appended); several ways to spell the same things. */
const HEADERS: string[] = [
  "From: Bob Sender <bob@example.org>\r\nTo: alice@example.test\r\nSubject: Quarterly report\r\nDate: Tue, 1 Nov 2022 23:30:00 -0800\r\n",
  "From: =?UTF-8?B?SsO8cmdlbiBCw7Zi?= <juergen@example.org>\r\nTo: Carol <carol@example.test>, erin@example.test\r\nSubject: =?ISO-8859-1?Q?Gr=FC=DFe_aus_K=F6ln?=\r\nDate: 1 Nov 99 08:00 +0000\r\n",
  "From: BOB@EXAMPLE.ORG\r\nCc: Dave <dave@example.net>\r\nSubject: a long subject line that is\r\n\tfolded onto a second line\r\nDate: Sat, 31 Dec 2022 23:59:59 +1400\r\n",
  "From: Grüße Müller <gm@example.org>\r\nBcc: dave@example.net\r\nSubject: Grüße raw UTF-8\r\n",
  "To: nobody@example.test\r\n",
  "Received: from relay.example.net by mx.example.test; Sun, 22 Nov 2026 10:00:00 +0000\r\nFrom: Trace <trace@example.org>\r\nSubject: traced\r\nDate: Sun, 22 Nov 2026 10:00:00 +0000\r\n",
  "From: x@example.org\r\nTo: one@example.test\r\nTo: two@example.test\r\nSubject: two To fields\r\nDate: garbage date\r\n",
  `From: Big Header <big@example.org>\r\nSubject: big header\r\n${filler(200, 100)}X-Late: needle-after-16k\r\nCc: late-cc@example.net\r\nDate: Mon, 2 Jan 2023 09:00:00 +0000\r\n`,
  `From: Huge Header <huge@example.org>\r\n${filler(700, 100)}X-Late: needle-after-64k\r\nSubject: huge header\r\n`,
  "From: =?utf-8?q?=C3=A9mile?= <emile@example.org>\r\nSubject: =?UTF-8?B?w4l0w6k=?= =?UTF-8?B?IGTDqWrDoA==?=\r\nX-Custom: Some VALUE\r\nDate: Wed, 15 Mar 2023 12:00:00 -0500\r\n",
];

const body = (i: number): string => `${HEADERS[i % HEADERS.length]}Message-ID: <h${i}@example.org>\r\n\r\nBody of message ${i}.\r\n`;

/** A non-synchronising literal (RFC 7888) of a UTF-8 string. */
const lit = (v: string): string => `{${Buffer.byteLength(v)}+}\r\n${v}`;

const PROGRAMS = [
  'FROM "bob"',
  'FROM "BOB@example"',
  `CHARSET UTF-8 FROM ${lit("jürgen")}`,
  'FROM "=?UTF-8?B?"',
  `CHARSET UTF-8 SUBJECT ${lit("grüße")}`,
  'SUBJECT "folded"',
  'SUBJECT "line that is"',
  'SUBJECT ""',
  'NOT SUBJECT ""',
  'TO "carol"',
  'TO "two@"',
  'CC ""',
  'CC "late-cc"',
  'BCC "dave"',
  'HEADER Received "relay.example"',
  'HEADER X-Late "needle"',
  'HEADER X-Late "after-64k"',
  'HEADER X-Custom "some value"',
  'HEADER X-Missing ""',
  `CHARSET UTF-8 SUBJECT ${lit("été déjà")}`,
  'OR FROM "bob" TO "erin"',
  'UNSEEN FROM "bob"',
  'SEEN NOT FROM "bob"',
  'NOT FROM "bob" UNSEEN',
  "SENTON 1-Nov-2022",
  "SENTBEFORE 1-Jan-2000",
  "SENTSINCE 31-Dec-2022",
  "SENTBEFORE 2-Jan-1970",
  'OR FLAGGED HEADER X-Late ""',
  'UID 1:10 FROM "example"',
];

function parseProgram(wire: string): SearchKey {
  const p = new CommandParser({ maxMessageSize: 1 << 20, literalPlus: true });
  const buf = Buffer.from(`a UID SEARCH ${wire}`, "utf8");
  let pos = 0;
  const line = (): Buffer => {
    let nl = buf.indexOf("\r\n", pos);
    if (nl < 0) nl = buf.length;
    const l = buf.subarray(pos, nl);
    pos = nl + 2;
    return l;
  };
  let r: ParseResult = p.feedLine(line());
  while (r.kind === "need-literal") {
    p.feedLiteral(buf.subarray(pos, pos + r.size));
    pos += r.size;
    r = p.feedLine(line());
  }
  if (r.kind !== "command" || r.name !== "SEARCH") throw new Error(`not a SEARCH: ${JSON.stringify(r)}`);
  return r.args.program.key;
}

/** What the per-message evaluator answers: every stored body parsed, header fields the
 * structure omits or truncates read from the whole header. */
async function expected(mailboxId: number, key: SearchKey): Promise<number[]> {
  const store = server.services.store;
  const metas = await store.listMessages(mailboxId);
  const pred = compileSearch(key, { messageCount: metas.length, maxUid: metas[metas.length - 1]?.uid ?? 0 });
  const out: number[] = [];
  for (let i = 0; i < metas.length; i++) {
    const meta = metas[i]!;
    const raw = await store.readBody(meta.id);
    const parsed = parseMessage(raw);
    const fields = parseHeaderFields(raw, 0, parsed.root.bodyStart);
    const view = searchView({
      seq: i + 1,
      meta: { ...meta, modseq: toWire(meta.modseq) },
      parsed,
      textMatches: () => false,
      readHeader: (name) => fields.filter((f) => f.name.toLowerCase() === name).map((f) => f.value),
    });
    if (pred(view)) out.push(meta.uid);
  }
  return out;
}

async function search(c: RawImap, wire: string): Promise<number[]> {
  const r = await c.cmd(`UID SEARCH ${wire}`, 20_000);
  assert.match(r, /^t\d+ OK/m, `${wire}: ${r}`);
  const line = /^\* SEARCH([ \d]*)\r$/m.exec(r);
  assert.ok(line, r);
  return line[1]!.trim() === "" ? [] : line[1]!.trim().split(" ").map(Number);
}

async function checkAll(c: RawImap, mailboxId: number, label: string): Promise<void> {
  const total = (await server.services.store.mailboxStatus(mailboxId)).messages;
  let discriminating = 0;
  for (const wire of PROGRAMS) {
    const want = await expected(mailboxId, parseProgram(wire));
    if (process.env.SEARCH_VERBOSE) console.log(label, wire.replace(/\r\n/g, " "), want.join(","));
    assert.deepEqual(await search(c, wire), want, `${label}: UID SEARCH ${wire.replace(/\r\n/g, " ")}`);
    if (want.length > 0 && want.length < total) discriminating++;
  }
  // The corpus exercises the keys: nearly every program splits the mailbox.
  assert.ok(discriminating >= PROGRAMS.length - 2, `${label}: only ${discriminating} programs split the mailbox`);
}

test("header and sent-date SEARCH equals the per-message evaluator, cold, warm and after changes", async () => {
  const store = server.services.store;
  const account = (await store.getAccount(USER))!;
  const c = await RawImap.connect(server, { implicitTls: true });
  try {
    assert.match(await c.login(USER), /^t\d+ OK/m);
    assert.match(await c.cmd('CREATE "Tricky"'), /OK/);
    const box = (await store.getMailbox(account.id, "Tricky"))!;
    // Each header block twice: once through IMAP APPEND (structure stored), once straight into
    // the store without a structure (parsed = null).
    for (let i = 0; i < HEADERS.length; i++) {
      const m = body(i);
      const r = await c.cmd(`APPEND Tricky ${i % 3 === 0 ? "(\\Seen) " : ""}{${Buffer.byteLength(m)}+}\r\n${m}`);
      assert.match(r, /OK/, r);
      await store.appendMessage(box.id, { body: Buffer.from(body(i + HEADERS.length), "utf8"), flags: i % 2 ? ["\\Seen"] : [] });
    }
    const stored = await store.listMessages(box.id);
    assert.equal(stored.length, 2 * HEADERS.length);
    assert.ok(stored.some((m) => m.parsed === null) && stored.some((m) => m.parsed !== null), "both kinds stored");
    assert.match(await c.cmd("SELECT Tricky"), /OK/);
    await checkAll(c, box.id, "cold");
    await checkAll(c, box.id, "warm");
    // Flag changes, an expunge and a new message seen by the listing through store events.
    assert.match(await c.cmd("UID STORE 1:4 +FLAGS (\\Seen \\Flagged)"), /OK/);
    assert.match(await c.cmd("UID STORE 5:8 -FLAGS (\\Seen)"), /OK/);
    await store.storeFlags(box.id, [11, 12], "add", ["\\Seen"]);
    assert.match(await c.cmd("UID STORE 3 +FLAGS (\\Deleted)"), /OK/);
    assert.match(await c.cmd("EXPUNGE"), /OK/);
    await store.appendMessage(box.id, { body: Buffer.from(body(1), "utf8") });
    assert.match(await c.cmd("NOOP"), /OK/);
    await checkAll(c, box.id, "after changes");
  } finally {
    await c.cmd("LOGOUT").catch(() => undefined);
  }
});
