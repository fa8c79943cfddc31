// The relay check, table-driven: every trick from the threat model (§3) and issue 4, with its
// verdict, next to the legitimate spellings that must keep working.

import { test } from "node:test";
import assert from "node:assert/strict";
import { classifyRecipient } from "./relay.js";

const localDomains = new Set(["example.test", "localhost"]);

type Want = string; // "local:<address>", "remote:<address>", "refused:<reason>", "syntax:<code>"

function verdict(raw: string, utf8 = false): Want {
  const v = classifyRecipient(raw, { localDomains, utf8 });
  switch (v.kind) {
    case "local":
      return `local:${v.address}`;
    case "remote":
      return `remote:${v.address}`;
    case "refused":
      return `refused:${v.reason}`;
    case "syntax":
      return `syntax:${v.error.reply.code} ${v.error.reply.status}`;
  }
}

const TABLE: Array<[string, Want]> = [
  // Legitimate local recipients, in their case and quoting variants.
  ["alice@example.test", "local:alice@example.test"],
  ["Alice@Example.TEST", "local:alice@example.test"],
  ['"alice"@example.test', "local:alice@example.test"],
  ['"ALICE"@EXAMPLE.test', "local:alice@example.test"],
  ["alice+tag@example.test", "local:alice+tag@example.test"],
  ["first.last@localhost", "local:first.last@localhost"],
  // Other domains: "remote" (the MX listener refuses these; submission queues them).
  ["bob@other.example", "remote:bob@other.example"],
  ["bob@OTHER.example", "remote:bob@other.example"],
  ["bob@sub.example.test", "remote:bob@sub.example.test"],
  ["bob@example.test.evil", "remote:bob@example.test.evil"],
  ["bob%x@other.example", "remote:bob%x@other.example"],
  // Percent hack and bang paths into our domains.
  ["user%other.example@example.test", "refused:routing-char"],
  ["user%other.example@EXAMPLE.TEST", "refused:routing-char"],
  ["other.example!user@example.test", "refused:routing-char"],
  ['"user%other.example"@example.test', "refused:routing-char"],
  ['"other!user"@example.test', "refused:routing-char"],
  // Quoted local parts hiding an address.
  ['"user@other.example"@example.test', "refused:quoted-special"],
  ['"user@other.example"@Example.Test', "refused:quoted-special"],
  ['"user\\@other.example"@example.test', "refused:quoted-special"],
  ['"a b"@example.test', "refused:quoted-special"],
  ['"a,b"@example.test', "refused:quoted-special"],
  ['"a:b"@example.test', "refused:quoted-special"],
  ['".alice"@example.test', "refused:quoted-special"],
  ['""@example.test', "refused:quoted-special"],
  // Source routes, wherever they point.
  ["@example.test:user@other.example", "refused:source-route"],
  ["@example.test:alice@example.test", "refused:source-route"],
  ["@a.example,@example.test:user@other.example", "refused:source-route"],
  ["@EXAMPLE.TEST:user@other.example", "refused:source-route"],
  // Several "@".
  ["user@other.example@example.test", "refused:multiple-at"],
  ["user@example.test@other.example", "refused:multiple-at"],
  ['"u"@other.example@example.test', "refused:multiple-at"],
  // Address literals, even "ours".
  ["user@[127.0.0.1]", "refused:address-literal"],
  ["alice@[IPv6:::1]", "refused:address-literal"],
  ["user@[192.0.2.1]", "refused:address-literal"],
  // Trailing dots.
  ["user@example.test.", "refused:trailing-dot"],
  ["alice@EXAMPLE.TEST.", "refused:trailing-dot"],
  ["user@other.example.", "refused:trailing-dot"],
  // Plain syntax errors stay syntax errors (501 5.1.3).
  ["user", "syntax:501 5.1.3"],
  ["user@", "syntax:501 5.1.3"],
  ["@example.test", "syntax:501 5.1.3"],
  ["us er@example.test", "syntax:501 5.1.3"],
  ["user@example..test", "syntax:501 5.1.3"],
  ["user@exa mple.test", "syntax:501 5.1.3"],
  // Non-ASCII without SMTPUTF8 (RFC 6531 §3.7.4.1).
  ["jörg@example.test", "syntax:553 5.6.7"],
];

test("relay check: every trick refused, every legitimate spelling accepted", () => {
  for (const [raw, want] of TABLE) assert.equal(verdict(raw), want, raw);
});

test("relay check: SMTPUTF8 local parts in our domains are local, lower-cased", () => {
  assert.equal(verdict("Jörg@example.test", true), "local:jörg@example.test");
  assert.equal(verdict("用户@localhost", true), "local:用户@localhost");
  assert.equal(verdict("用户@例子.广告", true), "remote:用户@例子.广告");
  assert.equal(verdict('"jö%rg"@example.test', true), "refused:routing-char");
});

test("relay check: IDN domains match in either spelling", () => {
  const v = (raw: string, domains: string[]) => {
    const r = classifyRecipient(raw, { localDomains: new Set(domains), utf8: true });
    return r.kind === "local" ? r.address : r.kind;
  };
  assert.equal(v("jörg@bücher.example", ["xn--bcher-kva.example"]), "jörg@xn--bcher-kva.example");
  assert.equal(v("jorg@xn--bcher-kva.example", ["bücher.example"]), "jorg@bücher.example");
  assert.equal(v("jorg@BÜCHER.example", ["bücher.example"]), "jorg@bücher.example");
  assert.equal(v("jorg@bucher.example", ["bücher.example"]), "remote");
});

test("relay check on hostile input: only the four verdict kinds, never a throw", () => {
  const samples = ["", "@", "@@", "@:", '"', '"@"@example.test', "\0@example.test", "a@example.test\0", "a\r\n@example.test", "a@exa\u0000mple.test", "%@example.test", "!@example.test", "a@[", "a@]", "@example.test:", ":@example.test", "a@example.test:b", "a@@example.test", "\\@example.test", '"\\"@example.test', "a".repeat(5000) + "@example.test"];
  for (const s of samples) {
    const v = classifyRecipient(s, { localDomains, utf8: true });
    assert.ok(["local", "remote", "refused", "syntax"].includes(v.kind), s);
    if (v.kind === "local") assert.match(v.address, /^[^@%!"\s\\]+@(example\.test|localhost)$/, s);
  }
});
