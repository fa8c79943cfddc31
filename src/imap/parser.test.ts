// Table-driven tests of the IMAP command parser, driven the way a session drives it: wire bytes
// are split into lines, and literals are read by size after each need-literal result.

import { test } from "node:test";
import assert from "node:assert/strict";
import { CommandParser, literalAtEnd, type ParseResult } from "./parser.js";
import { IMAP_MAX_COMMAND_LINE, IMAP_MAX_NONSYNC_LITERAL, IMAP_MAX_SMALL_LITERAL } from "../net/limits.js";
import { setToString } from "./sequence.js";
import { fetchResponseName } from "./fetchatt.js";

interface Driven {
  results: ParseResult[];
  /** Continuation requests the session would have sent ("+ Ready"). */
  continuations: number;
}

/** Feeds `wire` through a parser as a session would; returns every final result. */
function drive(wire: string | Buffer, opts: { maxMessageSize?: number; literalPlus?: boolean } = {}): Driven {
  const p = new CommandParser({ maxMessageSize: opts.maxMessageSize ?? 1_000_000, literalPlus: opts.literalPlus ?? true });
  const buf = Buffer.isBuffer(wire) ? wire : Buffer.from(wire, "utf8");
  const results: ParseResult[] = [];
  let continuations = 0;
  let pos = 0;
  while (pos < buf.length) {
    let nl = buf.indexOf("\n", pos);
    if (nl < 0) nl = buf.length;
    const end = nl > pos && buf[nl - 1] === 0x0d ? nl - 1 : nl;
    let r = p.feedLine(buf.subarray(pos, end));
    pos = nl + 1;
    while (r.kind === "need-literal") {
      if (!r.nonSync) continuations++;
      p.feedLiteral(buf.subarray(pos, pos + r.size));
      pos += r.size;
      let nl2 = buf.indexOf("\n", pos);
      if (nl2 < 0) nl2 = buf.length;
      const end2 = nl2 > pos && buf[nl2 - 1] === 0x0d ? nl2 - 1 : nl2;
      r = p.feedLine(buf.subarray(pos, end2));
      pos = nl2 + 1;
    }
    results.push(r);
  }
  return { results, continuations };
}

function one(wire: string, opts?: { maxMessageSize?: number; literalPlus?: boolean }): ParseResult {
  const d = drive(wire, opts);
  assert.equal(d.results.length, 1, `one result for ${JSON.stringify(wire)}`);
  return d.results[0]!;
}

function cmd(wire: string): Extract<ParseResult, { kind: "command" }> {
  const r = one(wire);
  if (r.kind !== "command") assert.fail(`expected a command for ${JSON.stringify(wire)}, got ${JSON.stringify(r)}`);
  return r;
}

function err(wire: string, opts?: { maxMessageSize?: number; literalPlus?: boolean }): Extract<ParseResult, { kind: "error" }> {
  const r = one(wire, opts);
  if (r.kind !== "error") assert.fail(`expected an error for ${JSON.stringify(wire)}, got ${JSON.stringify(r)}`);
  return r;
}

test("simple commands parse with tag, upper-cased name and empty args", () => {
  for (const name of ["CAPABILITY", "NOOP", "LOGOUT", "STARTTLS", "IDLE", "CHECK", "CLOSE", "UNSELECT", "NAMESPACE", "EXPUNGE"]) {
    const c = cmd(`a1 ${name.toLowerCase()}\r\n`);
    assert.equal(c.tag, "a1");
    assert.equal(c.name, name);
    assert.equal(c.uid, false);
  }
  assert.deepEqual(cmd("x EXPUNGE\r\n").args, { set: null });
});

test("LOGIN with atoms, quoted strings with escapes, literals and UTF-8", () => {
  const table: Array<[string, string, string]> = [
    ["A1 LOGIN joe secret\r\n", "joe", "secret"],
    ['A1 LOGIN "joe" "se cr\\"et\\\\"\r\n', "joe", 'se cr"et\\'],
    ["A1 LOGIN {3}\r\njoe {6}\r\nsecret\r\n", "joe", "secret"],
    ["A1 LOGIN {3+}\r\njoe {6+}\r\nsecret\r\n", "joe", "secret"],
    ['A1 LOGIN "jöe" "pässwörd"\r\n', "jöe", "pässwörd"],
    ["A1 LOGIN joe {8}\r\np\r\nss wd\r\n", "joe", "p\r\nss wd"],
    ['A1 LOGIN "" ""\r\n', "", ""],
  ];
  for (const [wire, u, p] of table) {
    const c = cmd(wire);
    assert.equal(c.name, "LOGIN");
    if (c.name === "LOGIN") assert.deepEqual(c.args, { username: u, password: p }, wire);
  }
  const d = drive("A1 LOGIN {3}\r\njoe {6+}\r\nsecret\r\n");
  assert.equal(d.continuations, 1, "one '+' for the synchronising literal only");
});

test("malformed input gives BAD with the tag when one was read, never throws", () => {
  const table: Array<[string, string | null, RegExp]> = [
    ["\r\n", null, /Empty/],
    ["A1\r\n", "A1", /Missing/],
    ["+tag NOOP\r\n", null, /tag/i],
    ["A1 FROB\r\n", "A1", /Unknown command/],
    ["A1 NOOP extra\r\n", "A1", /extra/],
    ["A1 LOGIN joe\r\n", "A1", /Missing argument/],
    ['A1 LOGIN "joe secret\r\n', "A1", /Unterminated/],
    ['A1 LOGIN "jo\\e" x\r\n', "A1", /escape/],
    ["A1 LOGIN joe {5}x\r\n", "A1", /Literal must end the line|Expected/],
    ["A1  NOOP\r\n", "A1", /command/],
    ["A1 LOGIN (joe) x\r\n", "A1", /Expected/],
    ["A1 SELECT\r\n", "A1", /Missing argument/],
    ["A1 UID NOOP\r\n", "A1", /UID/],
    ["A1 FETCH 0 FLAGS\r\n", "A1", /Invalid sequence/],
    ["A1 FETCH 1:4294967296 FLAGS\r\n", "A1", /Invalid sequence/],
    ["A1 FETCH 1 (FLAGS\r\n", "A1", /Expected|Missing/],
    ["A1 FETCH 1 BODY[HEADER.FIELDS ()]\r\n", "A1", /Empty list|Expected/],
    ["A1 FETCH 1 BODY[MIME]\r\n", "A1", /Invalid section/],
    ["A1 FETCH 1 BODY[1.0]\r\n", "A1", /non-zero|section/],
    ["A1 FETCH 1 BODY[]<5>\r\n", "A1", /Expected/],
    ["A1 STORE 1 FLAGZ (\\Seen)\r\n", "A1", /FLAGS/],
    ["A1 APPEND INBOX (\\Seen) \"32-Jan-2020 00:00:00 +0000\" {1}\r\nx\r\n", "A1", /date-time/],
    ["A1 SEARCH FROB\r\n", "A1", /Unknown search key/],
    ["A1 LOGIN joe\x00 x\r\n", "A1", /Expected|argument/],
  ];
  for (const [wire, tag, re] of table) {
    const e = err(wire);
    assert.equal(e.tag, tag, wire);
    assert.equal(e.status, "BAD", wire);
    assert.match(e.message, re, wire);
  }
});

test("8-bit octets and NUL are refused outside quoted strings and literals", () => {
  assert.equal(err("A1 LOGIN jöe x\r\n").status, "BAD");
  assert.equal(err("A1 LOGIN {3}\r\nj\x00e x\r\n").status, "BAD");
});

test("AUTHENTICATE with and without SASL-IR", () => {
  const a = cmd("A1 AUTHENTICATE plain\r\n");
  if (a.name !== "AUTHENTICATE") assert.fail();
  assert.deepEqual(a.args, { mechanism: "PLAIN", initialResponse: null });
  const b = cmd("A1 AUTHENTICATE PLAIN AGpvZQBzZWNyZXQ=\r\n");
  if (b.name !== "AUTHENTICATE") assert.fail();
  assert.equal(b.args.initialResponse, "AGpvZQBzZWNyZXQ=");
  const c = cmd("A1 AUTHENTICATE SCRAM-SHA-256 =\r\n");
  if (c.name !== "AUTHENTICATE") assert.fail();
  assert.equal(c.args.initialResponse, "=");
  assert.match(err("A1 AUTHENTICATE PLAIN abc$def\r\n").message, /initial response/);
});

test("ENABLE and ID", () => {
  const e = cmd("A1 ENABLE imap4rev2 CONDSTORE utf8=accept\r\n");
  if (e.name !== "ENABLE") assert.fail();
  assert.deepEqual(e.args.capabilities, ["IMAP4REV2", "CONDSTORE", "UTF8=ACCEPT"]);
  const i = cmd('A1 ID ("name" "Thunderbird" "version" NIL)\r\n');
  if (i.name !== "ID") assert.fail();
  assert.deepEqual(i.args.params, [["name", "Thunderbird"], ["version", null]]);
  const n = cmd("A1 ID NIL\r\n");
  if (n.name !== "ID") assert.fail();
  assert.equal(n.args.params, null);
  const many = "(" + Array.from({ length: 31 }, (_, k) => `"k${k}" "v"`).join(" ") + ")";
  assert.match(err(`A1 ID ${many}\r\n`).message, /Too many/);
});

test("SELECT / EXAMINE with CONDSTORE and QRESYNC parameters", () => {
  const s = cmd("A1 SELECT INBOX\r\n");
  if (s.name !== "SELECT") assert.fail();
  assert.deepEqual(s.args, { mailbox: "INBOX", condstore: false, qresync: null });
  const c = cmd("A1 EXAMINE \"Sent Items\" (CONDSTORE)\r\n");
  if (c.name !== "EXAMINE") assert.fail();
  assert.equal(c.args.mailbox, "Sent Items");
  assert.equal(c.args.condstore, true);
  const q = cmd("A02 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))\r\n");
  if (q.name !== "SELECT") assert.fail();
  assert.equal(q.args.qresync?.uidValidity, 67890007);
  assert.equal(q.args.qresync?.modseq, 20050715194045000);
  assert.equal(setToString(q.args.qresync!.knownUids!), "41,43:211,214:541");
  const q2 = cmd("B02 SELECT INBOX (QRESYNC (67890007 90060115194045000 41:211,214:541 (1:15,19 41:60,214:541)))\r\n");
  if (q2.name !== "SELECT") assert.fail();
  assert.equal(setToString(q2.args.qresync!.seqMatch!.seqs), "1:15,19");
  assert.equal(setToString(q2.args.qresync!.seqMatch!.uids), "41:60,214:541");
  const q3 = cmd("B03 SELECT INBOX (QRESYNC (1 2 (1 5)))\r\n");
  if (q3.name !== "SELECT") assert.fail();
  assert.equal(q3.args.qresync!.knownUids, null);
  assert.ok(q3.args.qresync!.seqMatch);
  assert.match(err("A1 SELECT INBOX (QRESYNC (0 1))\r\n").message, /non-zero/);
  assert.match(err("A1 SELECT INBOX (FOO)\r\n").message, /Unknown SELECT parameter/);
});

test("CREATE with USE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, STATUS, GETQUOTA, GETQUOTAROOT", () => {
  const c = cmd("A1 CREATE MySent (USE (\\Sent))\r\n");
  if (c.name !== "CREATE") assert.fail();
  assert.deepEqual(c.args, { mailbox: "MySent", specialUse: ["\\Sent"] });
  const r = cmd('A1 RENAME "Old Name" New/Name\r\n');
  if (r.name !== "RENAME") assert.fail();
  assert.deepEqual(r.args, { from: "Old Name", to: "New/Name" });
  for (const n of ["DELETE", "SUBSCRIBE", "UNSUBSCRIBE", "GETQUOTAROOT"] as const) {
    const x = cmd(`A1 ${n} &ZeVnLIqe-\r\n`);
    assert.equal(x.name, n);
    assert.deepEqual(x.args, { mailbox: "&ZeVnLIqe-" });
  }
  const q = cmd('A1 GETQUOTA ""\r\n');
  if (q.name !== "GETQUOTA") assert.fail();
  assert.deepEqual(q.args, { root: "" });
  const s = cmd("A1 STATUS INBOX (MESSAGES UIDNEXT uidvalidity UNSEEN DELETED SIZE HIGHESTMODSEQ)\r\n");
  if (s.name !== "STATUS") assert.fail();
  assert.deepEqual(s.args.items, ["MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "DELETED", "SIZE", "HIGHESTMODSEQ"]);
  assert.match(err("A1 STATUS INBOX (BOGUS)\r\n").message, /Unknown status item/);
  assert.match(err("A1 STATUS INBOX ()\r\n").message, /Empty list/);
});

test("LIST: basic, LIST-EXTENDED selection and return options, LIST-STATUS, SPECIAL-USE; LSUB", () => {
  const b = cmd('A1 LIST "" *\r\n');
  if (b.name !== "LIST") assert.fail();
  assert.equal(b.args.reference, "");
  assert.deepEqual(b.args.patterns, ["*"]);
  assert.equal(b.args.extended, false);
  const p = cmd('A1 LIST "" %/foo]\r\n');
  if (p.name !== "LIST") assert.fail();
  assert.deepEqual(p.args.patterns, ["%/foo]"]);
  const e = cmd('A1 LIST (SUBSCRIBED RECURSIVEMATCH) "" ("INBOX" "Sent*" %) RETURN (CHILDREN SPECIAL-USE STATUS (MESSAGES UNSEEN SIZE))\r\n');
  if (e.name !== "LIST") assert.fail();
  assert.equal(e.args.extended, true);
  assert.deepEqual(e.args.select, { subscribed: true, remote: false, recursiveMatch: true, specialUse: false });
  assert.deepEqual(e.args.patterns, ["INBOX", "Sent*", "%"]);
  assert.deepEqual(e.args.return, { subscribed: false, children: true, specialUse: true, status: ["MESSAGES", "UNSEEN", "SIZE"] });
  const su = cmd('A1 LIST (SPECIAL-USE) "" *\r\n');
  if (su.name !== "LIST") assert.fail();
  assert.equal(su.args.select.specialUse, true);
  const empty = cmd('A1 LIST "" * RETURN ()\r\n');
  if (empty.name !== "LIST") assert.fail();
  assert.equal(empty.args.extended, true);
  assert.match(err('A1 LIST (RECURSIVEMATCH) "" *\r\n').message, /RECURSIVEMATCH/);
  assert.match(err('A1 LIST "" * RETURN (BOGUS)\r\n').message, /Unknown LIST return option/);
  const l = cmd('A1 LSUB "" "*"\r\n');
  if (l.name !== "LSUB") assert.fail();
  assert.deepEqual(l.args, { reference: "", pattern: "*" });
});

test("APPEND with flags, date-time and literal / literal+ / literal8", () => {
  const msg = "From: a@b\r\n\r\nhi\r\n";
  const a = cmd(`A1 APPEND INBOX (\\Seen $Label1) "05-Jan-2024 10:20:30 +0100" {${msg.length}}\r\n${msg}\r\n`);
  if (a.name !== "APPEND") assert.fail();
  assert.equal(a.args.mailbox, "INBOX");
  assert.deepEqual(a.args.flags, ["\\Seen", "$Label1"]);
  assert.equal(a.args.date?.toISOString(), "2024-01-05T09:20:30.000Z");
  assert.ok(Buffer.isBuffer(a.args.message));
  assert.equal((a.args.message as Buffer).toString(), msg);
  const b = cmd(`A2 APPEND Drafts {${msg.length}+}\r\n${msg}\r\n`);
  if (b.name !== "APPEND") assert.fail();
  assert.deepEqual(b.args.flags, []);
  assert.equal(b.args.date, null);
  const c = cmd(`A3 APPEND INBOX " 5-Jan-2024 10:20:30 -0000" ~{5}\r\nab\x00cd\r\n`);
  if (c.name !== "APPEND") assert.fail();
  assert.equal(c.args.binary, true);
  assert.equal((c.args.message as Buffer).length, 5);
  const d = cmd(`A4 APPEND {5}\r\nINBOX () {2}\r\nhi\r\n`);
  if (d.name !== "APPEND") assert.fail();
  assert.equal(d.args.mailbox, "INBOX");
  assert.equal((d.args.message as Buffer).toString(), "hi");
});

test("the APPEND message literal is flagged, may be streamed elsewhere, and is bounded by the caller's limit", () => {
  const p = new CommandParser({ maxMessageSize: 100 });
  const r = p.feedLine(Buffer.from('A1 APPEND INBOX (\\Seen) {50}'));
  assert.deepEqual(r, { kind: "need-literal", size: 50, nonSync: false, binary: false, message: true });
  p.feedLiteral({ path: "/tmp/x", size: 50 });
  const done = p.feedLine(Buffer.alloc(0));
  if (done.kind !== "command" || done.name !== "APPEND") assert.fail(JSON.stringify(done));
  assert.deepEqual(done.args.message, { path: "/tmp/x", size: 50 });

  // The mailbox-name literal is not the message.
  const q = new CommandParser({ maxMessageSize: 100 });
  assert.equal((q.feedLine(Buffer.from("A1 APPEND {5}")) as { message: boolean }).message, false);

  // Over the limit: synchronising -> NO [TOOBIG] without reading; non-synchronising -> BAD and close.
  const big = err("A1 APPEND INBOX {101}\r\n", { maxMessageSize: 100 });
  assert.deepEqual([big.tag, big.status, big.code, big.close], ["A1", "NO", "TOOBIG", false]);
  const bigPlus = err("A1 APPEND INBOX {5001+}\r\n", { maxMessageSize: 5000 });
  assert.deepEqual([bigPlus.tag, bigPlus.status, bigPlus.code, bigPlus.close], ["A1", "BAD", "TOOBIG", true]);
  // A small non-synchronising one is read and discarded, and the connection stays usable.
  const d = drive("A1 APPEND INBOX {101+}\r\n" + "x".repeat(101) + "\r\nA2 NOOP\r\n", { maxMessageSize: 100 });
  assert.equal(d.results.length, 2);
  const e = d.results[0]!;
  if (e.kind !== "error") assert.fail();
  assert.deepEqual([e.tag, e.status, e.code, e.close], ["A1", "BAD", "TOOBIG", false]);
  assert.equal((d.results[1] as { name: string }).name, "NOOP");
});

test("literal size limits outside APPEND (RFC 7888 §4 [TOOBIG])", () => {
  const tooBig = err(`A1 LOGIN {${IMAP_MAX_SMALL_LITERAL + 1}}\r\n`);
  assert.deepEqual([tooBig.status, tooBig.code, tooBig.close], ["BAD", "TOOBIG", false]);
  const nonSyncTooBig = err(`A1 LOGIN {${IMAP_MAX_NONSYNC_LITERAL + 1}+}\r\n`, { literalPlus: false });
  assert.deepEqual([nonSyncTooBig.code, nonSyncTooBig.close], ["TOOBIG", true]);
  const huge = err("A1 LOGIN {99999999999999999999}\r\n");
  assert.equal(huge.code, "TOOBIG");
  assert.match(err("A1 LOGIN ~{3}\r\n").message, /literal8/);
});

test("an unknown command announcing a literal is refused before the continuation", () => {
  const p = new CommandParser({ maxMessageSize: 1000 });
  const r = p.feedLine(Buffer.from("A1 FROB {5}"));
  assert.equal(r.kind, "error");
  assert.equal(p.busy, false);
  // A small non-synchronising literal of a refused command is swallowed with the rest of the line,
  // so the literal's bytes are never taken for a new command.
  const d = drive("A1 FROB {9+}\r\nA2 LOGOUT more\r\nA3 NOOP\r\n");
  assert.equal(d.results.length, 2);
  assert.equal(d.results[0]!.kind, "error");
  assert.equal((d.results[0] as { tag: string }).tag, "A1");
  assert.equal((d.results[1] as { name: string }).name, "NOOP");
});

test("over-long lines and too many literals are refused", () => {
  const p = new CommandParser({ maxMessageSize: 1000 });
  const r = p.feedLine(Buffer.alloc(IMAP_MAX_COMMAND_LINE + 1, 0x61));
  assert.equal(r.kind, "error");
  const many = "A1 SEARCH " + Array.from({ length: 70 }, () => "SUBJECT {1+}\r\nx").join(" ") + "\r\n";
  const e = err(many);
  assert.match(e.message, /Too many literals/);
});

test("a literal announcement inside a quoted string is text, not a literal", () => {
  assert.equal(literalAtEnd(Buffer.from('A1 LOGIN "x {5}')), null);
  assert.deepEqual(literalAtEnd(Buffer.from('A1 LOGIN "x" {5}')), { size: 5, nonSync: false, binary: false, index: 13 });
  const c = cmd('A1 LOGIN "a{5}" b\r\n');
  if (c.name !== "LOGIN") assert.fail();
  assert.equal(c.args.username, "a{5}");
});

test("FETCH: macros, attributes, sections, partials, BINARY, modifiers", () => {
  const names = (w: string) => {
    const c = cmd(w);
    if (c.name !== "FETCH") assert.fail();
    return c.args.items.map(fetchResponseName);
  };
  assert.deepEqual(names("A1 FETCH 1 ALL\r\n"), ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"]);
  assert.deepEqual(names("A1 FETCH 1 FAST\r\n"), ["FLAGS", "INTERNALDATE", "RFC822.SIZE"]);
  assert.deepEqual(names("A1 FETCH 1 full\r\n"), ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"]);
  assert.deepEqual(names("A1 FETCH 1:* (UID FLAGS BODYSTRUCTURE MODSEQ RFC822.SIZE)\r\n"), ["UID", "FLAGS", "BODYSTRUCTURE", "MODSEQ", "RFC822.SIZE"]);
  assert.deepEqual(names("A1 FETCH 1 (BODY[1.2.HEADER.FIELDS (From to)]<0.100> BODY.PEEK[] body[text] BODY[1.MIME] BODY[HEADER.FIELDS.NOT (\"X-Spam\")])\r\n"), [
    "BODY[1.2.HEADER.FIELDS (FROM TO)]<0>", "BODY[]", "BODY[TEXT]", "BODY[1.MIME]", "BODY[HEADER.FIELDS.NOT (X-SPAM)]",
  ]);
  assert.deepEqual(names("A1 FETCH 1 (BINARY[1.2] BINARY.PEEK[1]<10.20> BINARY.SIZE[3] RFC822 RFC822.HEADER RFC822.TEXT BODY)\r\n"), [
    "BINARY[1.2]", "BINARY[1]<10>", "BINARY.SIZE[3]", "RFC822", "RFC822.HEADER", "RFC822.TEXT", "BODY",
  ]);
  const c = cmd("A1 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345 VANISHED)\r\n");
  if (c.name !== "FETCH") assert.fail();
  assert.equal(c.uid, true);
  assert.equal(c.args.changedSince, 12345);
  assert.equal(c.args.vanished, true);
  assert.equal(setToString(c.args.set), "1:*");
  const peek = cmd("A1 FETCH $ BODY.PEEK[2.1.TEXT]<5.10>\r\n");
  if (peek.name !== "FETCH") assert.fail();
  assert.deepEqual(peek.args.items[0], { type: "BODY[]", section: { part: [2, 1], text: "TEXT", fields: [] }, peek: true, partial: { offset: 5, length: 10 } });
  assert.equal(peek.args.set.kind, "saved");
  assert.match(err("A1 FETCH 1 (FLAGS) (VANISHED)\r\n").message, /VANISHED requires CHANGEDSINCE/);
  assert.match(err("A1 FETCH 1 BOGUS\r\n").message, /Unknown fetch attribute/);
});

test("STORE forms with .SILENT and UNCHANGEDSINCE", () => {
  const table: Array<[string, "set" | "add" | "remove", boolean, string[], number | null]> = [
    ["A1 STORE 1 FLAGS (\\Seen)\r\n", "set", false, ["\\Seen"], null],
    ["A1 STORE 1:3 +FLAGS.SILENT (\\Deleted $Junk)\r\n", "add", true, ["\\Deleted", "$Junk"], null],
    ["A1 STORE 1 -flags \\Seen \\Flagged\r\n", "remove", false, ["\\Seen", "\\Flagged"], null],
    ["A1 STORE 1 FLAGS ()\r\n", "set", false, [], null],
    ["A1 STORE 1:* (UNCHANGEDSINCE 320162338) +FLAGS.SILENT (\\Deleted)\r\n", "add", true, ["\\Deleted"], 320162338],
  ];
  for (const [wire, op, silent, flags, unch] of table) {
    const c = cmd(wire);
    if (c.name !== "STORE") assert.fail();
    assert.deepEqual([c.args.op, c.args.silent, c.args.flags, c.args.unchangedSince], [op, silent, flags, unch], wire);
  }
});

test("COPY, MOVE and UID forms, UID EXPUNGE", () => {
  const c = cmd("A1 UID COPY 1:3,7 Archive\r\n");
  if (c.name !== "COPY") assert.fail();
  assert.equal(c.uid, true);
  assert.equal(setToString(c.args.set), "1:3,7");
  assert.equal(c.args.mailbox, "Archive");
  const m = cmd('A1 MOVE 2 "Junk"\r\n');
  if (m.name !== "MOVE") assert.fail();
  assert.equal(m.uid, false);
  const x = cmd("A1 UID EXPUNGE 3000:3002\r\n");
  if (x.name !== "EXPUNGE") assert.fail();
  assert.equal(setToString(x.args.set!), "3000:3002");
  assert.match(err("A1 UID EXPUNGE\r\n").message, /Missing argument/);
});

test("SEARCH parses through the command parser, BADCHARSET is a NO", () => {
  const s = cmd('A1 UID SEARCH RETURN (MIN COUNT) CHARSET UTF-8 OR FROM "x" (SEEN UNDELETED) NOT UID 1:5\r\n');
  if (s.name !== "SEARCH") assert.fail();
  assert.equal(s.uid, true);
  assert.equal(s.args.program.charset, "UTF-8");
  assert.deepEqual(s.args.program.returnOpts, { min: true, max: false, count: true, all: false, save: false });
  const e = err("A1 SEARCH CHARSET KOI8-R FROM x\r\n");
  assert.deepEqual([e.status, e.code], ["NO", "BADCHARSET (US-ASCII UTF-8)"]);
  const lit = cmd("A1 SEARCH CHARSET UTF-8 SUBJECT {5}\r\ncafé\r\n");
  if (lit.name !== "SEARCH") assert.fail();
  assert.deepEqual(lit.args.program.key, { type: "header", field: "subject", value: "café" });
});

test("the parser is reusable after every kind of result", () => {
  const d = drive("A1 NOOP\r\nA2 FROB\r\nA3 LOGIN {3}\r\nabc def\r\n\r\nA4 LOGOUT\r\n");
  assert.deepEqual(
    d.results.map((r) => (r.kind === "command" ? r.name : r.kind)),
    ["NOOP", "error", "LOGIN", "error", "LOGOUT"],
  );
});

test("hostile inputs: deep nesting, long sets, random bytes never throw", () => {
  assert.match(err("A1 SEARCH " + "(".repeat(200) + "ALL" + ")".repeat(200) + "\r\n").message, /nested too deeply/);
  assert.match(err("A1 SEARCH " + "NOT ".repeat(200) + "ALL\r\n").message, /nested too deeply/);
  const longSet = Array.from({ length: 20000 }, (_, i) => i + 1).join(",");
  assert.equal(err(`A1 FETCH ${longSet} FLAGS\r\n`).status, "BAD");
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const alphabet = Buffer.from('A1 ()[]<>{}"\\*%$:,.+~-019FETCHBODYSEARCHUIDLOGIN\x00\x7f\xc3\xa9');
  for (let n = 0; n < 3000; n++) {
    const len = Math.floor(rnd() * 60);
    const b = Buffer.alloc(len);
    for (let i = 0; i < len; i++) b[i] = alphabet[Math.floor(rnd() * alphabet.length)]!;
    const p = new CommandParser({ maxMessageSize: 100 });
    const r = p.feedLine(Buffer.concat([Buffer.from("T FETCH "), b]));
    if (r.kind === "need-literal") {
      p.feedLiteral(Buffer.alloc(r.size, 0x61));
      const r2 = p.feedLine(Buffer.alloc(0));
      assert.ok(r2.kind === "command" || r2.kind === "error" || r2.kind === "need-literal");
    }
    const q = new CommandParser({ maxMessageSize: 100 });
    const r3 = q.feedLine(b);
    assert.ok(["command", "error", "need-literal"].includes(r3.kind));
  }
});

import { isIdleDone, parseSaslResponse } from "./parser.js";

test("APPEND with UTF8 (literal8) of RFC 6855", () => {
  const msg = "Subject: caf\u00e9\r\n\r\nx\r\n";
  const n = Buffer.byteLength(msg);
  const d = drive(`A1 APPEND INBOX (\\Seen) UTF8 (~{${n}+}\r\n${msg})\r\n`);
  const c = d.results[0]!;
  if (c.kind !== "command" || c.name !== "APPEND") assert.fail(JSON.stringify(c));
  assert.equal(c.args.utf8, true);
  assert.equal(c.args.binary, true);
  assert.equal((c.args.message as Buffer).toString(), msg);
  const p = new CommandParser({ maxMessageSize: 1000 });
  assert.equal((p.feedLine(Buffer.from("A1 APPEND INBOX UTF8 (~{5}")) as { message: boolean }).message, true);
  assert.match(err("A1 APPEND INBOX UTF8 ({1}\r\nx)\r\n").message, /literal8/);
  assert.match(err('A1 APPEND INBOX "hello"\r\n').message, /date-time|literal/);
});

test("SASL continuation lines and IDLE DONE", () => {
  assert.deepEqual(parseSaslResponse(Buffer.from("*")), { kind: "cancel" });
  const d = parseSaslResponse(Buffer.from("AGpvZQBzZWNyZXQ="));
  assert.equal(d.kind === "data" && d.data.toString("latin1"), "\0joe\0secret");
  assert.deepEqual(parseSaslResponse(Buffer.from("")), { kind: "data", data: Buffer.alloc(0) });
  assert.equal(parseSaslResponse(Buffer.from("abc")).kind, "error");
  assert.equal(parseSaslResponse(Buffer.from("ab$=")).kind, "error");
  assert.equal(isIdleDone(Buffer.from("done")), true);
  assert.equal(isIdleDone(Buffer.from("DONE ")), false);
  assert.equal(isIdleDone(Buffer.from("A1 NOOP")), false);
});

import { fetchNeeds, rfc822Section, setsSeen } from "./fetchatt.js";

test("what a FETCH needs and whether it sets \\Seen", () => {
  const items = (w: string) => {
    const c = cmd(w);
    if (c.name !== "FETCH") assert.fail();
    return c.args.items;
  };
  assert.deepEqual(fetchNeeds(items("A FETCH 1:* (UID FLAGS MODSEQ)\r\n")), { parsed: false, body: false, seen: false });
  assert.deepEqual(fetchNeeds(items("A FETCH 1 (ENVELOPE BODYSTRUCTURE)\r\n")), { parsed: true, body: false, seen: false });
  assert.deepEqual(fetchNeeds(items("A FETCH 1 BODY.PEEK[HEADER]\r\n")), { parsed: true, body: true, seen: false });
  assert.deepEqual(fetchNeeds(items("A FETCH 1 BODY[1]\r\n")), { parsed: true, body: true, seen: true });
  assert.deepEqual(fetchNeeds(items("A FETCH 1 RFC822.HEADER\r\n")), { parsed: true, body: true, seen: false });
  assert.equal(items("A FETCH 1 (RFC822.TEXT BINARY[1] BINARY.PEEK[1])\r\n").map(setsSeen).join(), "true,true,false");
  assert.deepEqual(rfc822Section({ type: "RFC822.HEADER" }), { part: [], text: "HEADER", fields: [] });
  assert.equal(rfc822Section({ type: "FLAGS" }), null);
});

test("a large APPEND message fed in memory is bounded by the message limit, not the command limit", () => {
  const body = Buffer.alloc(2_000_000, 0x61);
  const p = new CommandParser({ maxMessageSize: 5_000_000 });
  const r = p.feedLine(Buffer.from(`A1 APPEND INBOX {${body.length}+}`));
  assert.equal(r.kind, "need-literal");
  p.feedLiteral(body);
  const done = p.feedLine(Buffer.alloc(0));
  if (done.kind !== "command" || done.name !== "APPEND") assert.fail(JSON.stringify(done).slice(0, 200));
  assert.equal((done.args.message as Buffer).length, body.length);
});

import { renderFetchLine, renderSimpleItem, sectionItemHead } from "./fetchresp.js";
import { parseMessage } from "./mime.js";

test("FETCH response values from stored metadata", () => {
  const parsed = parseMessage(Buffer.from("From: a@b.test\r\nSubject: hi\r\n\r\nbody\r\n"));
  const ctx = { uid: 42, flags: ["\\Seen", "$Work"], internalDate: new Date(Date.UTC(2024, 0, 5, 9, 20, 30)), size: 40, modseq: 7, parsed };
  const c = cmd("A1 UID FETCH 42 (FLAGS INTERNALDATE RFC822.SIZE UID MODSEQ ENVELOPE BODY BODYSTRUCTURE BODY.PEEK[1]<0.10>)\r\n");
  if (c.name !== "FETCH") assert.fail();
  const rendered = c.args.items.map((i) => renderSimpleItem(i, ctx));
  assert.deepEqual(rendered.slice(0, 5), ["FLAGS (\\Seen $Work)", 'INTERNALDATE " 5-Jan-2024 09:20:30 +0000"', "RFC822.SIZE 40", "UID 42", "MODSEQ (7)"]);
  assert.equal(rendered[5], 'ENVELOPE (NIL "hi" ((NIL NIL "a" "b.test")) ((NIL NIL "a" "b.test")) ((NIL NIL "a" "b.test")) NIL NIL NIL NIL NIL)');
  assert.equal(rendered[6], 'BODY ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 6 1)');
  assert.equal(rendered[7], 'BODYSTRUCTURE ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 6 1 NIL NIL NIL NIL)');
  assert.equal(rendered[8], null);
  assert.equal(sectionItemHead(c.args.items[8]!), "BODY[1]<0> ");
  assert.equal(renderSimpleItem({ type: "ENVELOPE" }, { ...ctx, parsed: null }), null);
  assert.equal(renderFetchLine(3, ["UID 42", "FLAGS ()"]), "* 3 FETCH (UID 42 FLAGS ())\r\n");
});

test("error texts never carry CR, LF or other controls from client input", () => {
  const e = err("A1 SEARCH BEFORE {12}\r\n1\r\nA2 LOGOUT\r\n");
  assert.match(e.message, /Invalid date/);
  assert.doesNotMatch(e.message, /[\r\n]/);
});
