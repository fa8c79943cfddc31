// Table-driven tests of the SMTP command-line and address parsers (RFC 5321 §4.1.1, §4.1.2,
// §4.1.3; RFC 6531; RFC 1870; RFC 3461 xtext).

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  decodeXtext,
  formatMailbox,
  parseCommandLine,
  parseHeloArg,
  parseMailFrom,
  parseMailbox,
  parseParams,
  parsePath,
  parseRcptTo,
  splitPath,
  MultipleAtError,
} from "./parse.js";
import { SmtpError } from "./reply.js";

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof SmtpError) return `${e.reply.code} ${e.reply.status}`;
    throw e;
  }
  return "ok";
}

test("command line: verb is case-insensitive, args keep their case, trailing spaces dropped", () => {
  assert.deepEqual(parseCommandLine("ehlo Client.Example"), { verb: "EHLO", args: "Client.Example" });
  assert.deepEqual(parseCommandLine("DATA"), { verb: "DATA", args: "" });
  assert.deepEqual(parseCommandLine("NOOP   "), { verb: "NOOP", args: "" });
  assert.deepEqual(parseCommandLine("MAIL FROM:<a@b> SIZE=10  "), { verb: "MAIL", args: "FROM:<a@b> SIZE=10" });
  for (const bad of ["", " EHLO x", "8BIT", "MA1L FROM:<>", "ÉHLO x"]) assert.equal(code(() => parseCommandLine(bad)), "500 5.5.2", bad);
});

test("Mailbox grammar: dot-strings (RFC 5321 §4.1.2)", () => {
  const ok = ["a@b", "a.b.c@example.org", "x+tag@example.org", "!#$%&'*+-/=?^_`{|}~@example.org", "A@EXAMPLE.ORG", "a@b-c.d"];
  for (const s of ok) assert.equal(code(() => parseMailbox(s, { utf8: false, role: "recipient" })), "ok", s);
  const bad = [".a@b", "a.@b", "a..b@b", "a b@b", "a@", "@b", "a", "a@-b.c", "a@b-.c", "a@b..c", "a@.b", "a(b)@c", "a,b@c", "a@b_c.d"];
  for (const s of bad) assert.equal(code(() => parseMailbox(s, { utf8: false, role: "recipient" })), "501 5.1.3", s);
  assert.equal(code(() => parseMailbox("a b@c", { utf8: false, role: "sender" })), "501 5.1.7");
});

test("Mailbox grammar: quoted local parts with escapes", () => {
  const m = parseMailbox('"john \\"j\\" doe"@example.org', { utf8: false, role: "recipient" });
  assert.equal(m.local, 'john "j" doe');
  assert.equal(m.quoted, true);
  assert.equal(parseMailbox('"a@b"@c', { utf8: false, role: "recipient" }).local, "a@b");
  assert.equal(parseMailbox('"a\\\\b"@c', { utf8: false, role: "recipient" }).local, "a\\b");
  assert.equal(parseMailbox('""@c', { utf8: false, role: "recipient" }).local, "");
  for (const s of ['"abc@c', '"a"b@c', '"a\\', '"a\tb"@c', '"a"@', '"a\\\u0001"@c']) {
    assert.notEqual(code(() => parseMailbox(s, { utf8: false, role: "recipient" })), "ok", s);
  }
  assert.equal(formatMailbox(m), '"john \\"j\\" doe"@example.org');
  assert.equal(formatMailbox(parseMailbox('"alice"@c', { utf8: false, role: "recipient" })), "alice@c");
});

test("Mailbox grammar: address literals (RFC 5321 §4.1.3)", () => {
  const v4 = parseMailbox("a@[192.0.2.1]", { utf8: false, role: "recipient" });
  assert.deepEqual(v4.domain, { kind: "literal", text: "[192.0.2.1]", ip: "192.0.2.1" });
  const v6 = parseMailbox("a@[IPv6:2001:db8::1]", { utf8: false, role: "recipient" });
  assert.deepEqual(v6.domain, { kind: "literal", text: "[IPv6:2001:db8::1]", ip: "2001:db8::1" });
  assert.equal(parseMailbox("a@[x-tag:abc]", { utf8: false, role: "recipient" }).domain.kind, "literal");
  for (const s of ["a@[256.0.0.1]", "a@[1.2.3]", "a@[IPv6:zz]", "a@[127.0.0.1", "a@[]"]) {
    assert.equal(code(() => parseMailbox(s, { utf8: false, role: "recipient" })), "501 5.1.3", s);
  }
});

test("Mailbox grammar: trailing dot is accepted and flagged, second @ is a MultipleAtError", () => {
  const m = parseMailbox("a@example.org.", { utf8: false, role: "recipient" });
  assert.deepEqual(m.domain, { kind: "name", name: "example.org", trailingDot: true });
  assert.throws(() => parseMailbox("user@other@example.org", { utf8: false, role: "recipient" }), MultipleAtError);
  assert.throws(() => parseMailbox('"x"@other@example.org', { utf8: false, role: "recipient" }), MultipleAtError);
});

test("Mailbox grammar: lengths (RFC 5321 §4.5.3.1)", () => {
  assert.equal(code(() => parseMailbox(`${"a".repeat(64)}@b`, { utf8: false, role: "recipient" })), "ok");
  assert.equal(code(() => parseMailbox(`${"a".repeat(65)}@b`, { utf8: false, role: "recipient" })), "501 5.1.3");
  assert.equal(code(() => parseMailbox(`a@${"b".repeat(64)}.c`, { utf8: false, role: "recipient" })), "501 5.1.3");
  assert.equal(code(() => parsePath(`a@${"b.".repeat(130)}c`, { utf8: false, role: "recipient" })), "501 5.1.3");
});

test("SMTPUTF8 (RFC 6531): UTF-8 local parts and domains only when enabled", () => {
  const m = parseMailbox("用户@例子.广告", { utf8: true, role: "recipient" });
  assert.equal(m.local, "用户");
  assert.deepEqual(m.domain, { kind: "name", name: "例子.广告", trailingDot: false });
  assert.equal(parseMailbox("jörg@bücher.example", { utf8: true, role: "recipient" }).local, "jörg");
  assert.equal(parseMailbox('"jö rg"@example', { utf8: true, role: "recipient" }).local, "jö rg");
  assert.equal(code(() => parseMailbox("jörg@example", { utf8: false, role: "recipient" })), "553 5.6.7");
  assert.equal(code(() => parseMailbox("a@bücher.example", { utf8: false, role: "recipient" })), "553 5.6.7");
  assert.equal(parsePath("jörg@bücher.example", { utf8: true, role: "recipient" }).utf8, true);
});

test("paths: source routes are parsed and returned (RFC 5321 §4.1.1.3)", () => {
  const p = parsePath("@a.example,@b.example:user@c.example", { utf8: false, role: "recipient" });
  assert.deepEqual(p.route, ["a.example", "b.example"]);
  assert.equal(p.mailbox.local, "user");
  for (const s of ["@:u@d", "@a.example u@d", "@a,b:u@d", "@a.example:"]) {
    assert.equal(code(() => parsePath(s, { utf8: false, role: "recipient" })), "501 5.1.3", s);
  }
});

test("splitPath: angle brackets, quoted '>' and junk", () => {
  assert.deepEqual(splitPath("<a@b> SIZE=1", "sender"), { path: "a@b", params: "SIZE=1" });
  assert.deepEqual(splitPath(" <a@b>", "sender"), { path: "a@b", params: "" });
  assert.deepEqual(splitPath('<"a>b"@c>', "recipient"), { path: '"a>b"@c', params: "" });
  for (const s of ["a@b", "<a@b", "<a@b>x", "<<a@b>>", "<a<b>"]) assert.equal(code(() => splitPath(s, "recipient")), "501 5.1.3", s);
});

test("MAIL FROM: paths and parameters (RFC 1870, RFC 6152, RFC 6531, RFC 4954)", () => {
  const m = parseMailFrom("FROM:<Alice@Example.org> SIZE=1000 BODY=8BITMIME");
  assert.equal(m.path?.mailbox.local, "Alice");
  assert.equal(m.size, 1000);
  assert.equal(m.body, "8BITMIME");
  assert.equal(m.smtputf8, false);
  const n = parseMailFrom("from:<>");
  assert.equal(n.path, null);
  assert.equal(parseMailFrom("FROM: <a@b>").path?.mailbox.local, "a");
  assert.equal(parseMailFrom("FROM:<jörg@bücher.example> SMTPUTF8").smtputf8, true);
  assert.equal(parseMailFrom("FROM:<a@b> AUTH=alice+40example.org").auth, "alice@example.org");
  assert.equal(parseMailFrom("FROM:<a@b> body=binarymime").body, "BINARYMIME");
  assert.equal(parseMailFrom("FROM:<a@b> SMTPUTF8 BODY=8BITMIME SMTPUTF8").smtputf8, true);
  const cases: Array<[string, string]> = [
    ["FROM:<jörg@example>", "553 5.6.7"],
    ["FROM:<a@b> SIZE=abc", "501 5.5.4"],
    ["FROM:<a@b> SIZE", "501 5.5.4"],
    ["FROM:<a@b> SIZE=1 SIZE=2", "501 5.5.4"],
    ["FROM:<a@b> SMTPUTF8 SMTPUTF8=x", "501 5.5.4"],
    ["FROM:<a@b> BODY=9BIT", "501 5.5.4"],
    ["FROM:<a@b> SMTPUTF8=yes", "501 5.5.4"],
    ["FROM:<a@b> RET=FULL", "555 5.5.4"],
    ["FROM:<a@b> AUTH=a+zz", "501 5.5.4"],
    ["TO:<a@b>", "501 5.5.4"],
    ["FROM a@b", "501 5.5.4"],
    ["FROM:a@b", "501 5.1.7"],
    ["FROM:<a b@c>", "501 5.1.7"],
  ];
  for (const [args, want] of cases) assert.equal(code(() => parseMailFrom(args)), want, args);
});

test("RCPT TO: raw path, postmaster, no parameters", () => {
  assert.deepEqual(parseRcptTo("TO:<bob@example.org>"), { raw: "bob@example.org", postmaster: false });
  assert.deepEqual(parseRcptTo("to:<Postmaster>"), { raw: "Postmaster", postmaster: true });
  assert.deepEqual(parseRcptTo('TO:<"a>b"@c>'), { raw: '"a>b"@c', postmaster: false });
  assert.equal(code(() => parseRcptTo("TO:<a@b> NOTIFY=NEVER")), "555 5.5.4");
  assert.equal(code(() => parseRcptTo("TO:<>")), "501 5.1.3");
  assert.equal(code(() => parseRcptTo("FROM:<a@b>")), "501 5.5.4");
});

test("ESMTP parameters and xtext", () => {
  assert.deepEqual([...parseParams("size=1  Body=7BIT X-FOO", false)], [["SIZE", "1"], ["BODY", "7BIT"], ["X-FOO", null]]);
  assert.equal(code(() => parseParams("-X=1", false)), "501 5.5.4");
  assert.equal(code(() => parseParams("X=a=b", false)), "501 5.5.4");
  assert.equal(code(() => parseParams("X=é", false)), "501 5.5.4");
  assert.equal(code(() => parseParams("X=é", true)), "ok");
  assert.equal(decodeXtext("a+2Bb"), "a+b");
  assert.equal(decodeXtext("a+2b"), null);
  assert.equal(decodeXtext("a=b"), null);
});

test("EHLO argument: one printable token, nothing that breaks a Received: header", () => {
  assert.equal(parseHeloArg("mail.example.org"), "mail.example.org");
  assert.equal(parseHeloArg("[192.0.2.1]"), "[192.0.2.1]");
  assert.equal(parseHeloArg("my_laptop.local "), "my_laptop.local");
  for (const bad of ["", "a b", "a(b)", "a;b", "x".repeat(256), "a\u0000b"]) assert.notEqual(code(() => parseHeloArg(bad)), "ok", bad);
});

test("hostile input: random and adversarial strings never throw anything but SmtpError, and stay fast", () => {
  // A small deterministic generator (no Math.random: failures must be reproducible).
  let seed = 0x2545f491;
  const rand = (n: number) => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % n;
  };
  const alphabet = ['<', '>', '@', '"', "\\", ":", ",", ".", " ", "\t", "%", "!", "[", "]", "=", "+", "a", "Z", "0", "\0", "\r", "\n", "é", "用", "\u{1F600}", "(", ")", "-"];
  const inputs: string[] = [
    "<" + "@a,".repeat(2000) + "b:c@d>",
    "<" + '"'.repeat(5000) + ">",
    "<" + "\\".repeat(5001) + ">",
    "<" + "a.".repeat(3000) + "@b>",
    "<a@" + "[".repeat(3000) + ">",
    "<a@b> " + "X=1 ".repeat(3000),
  ];
  for (let i = 0; i < 3000; i++) {
    const len = rand(60);
    let s = "";
    for (let j = 0; j < len; j++) s += alphabet[rand(alphabet.length)];
    inputs.push(rand(2) ? `<${s}>` : s);
  }
  const started = Date.now();
  for (const s of inputs) {
    for (const fn of [() => parseMailFrom("FROM:" + s), () => parseRcptTo("TO:" + s), () => parseCommandLine(s), () => parseHeloArg(s)]) {
      try {
        fn();
      } catch (e) {
        assert.ok(e instanceof SmtpError, `${String(e)} for ${JSON.stringify(s.slice(0, 80))}`);
      }
    }
  }
  assert.ok(Date.now() - started < 5000, "no super-linear parsing");
});
