import { test } from "node:test";
import assert from "node:assert/strict";
import { parsePlain, PlainExchange } from "./plain.js";
import { FakeHooks } from "./fake-hooks.test-helper.js";

const b = (s: string) => Buffer.from(s, "utf8");

test("parsePlain: well-formed messages (RFC 4616 §2)", () => {
  assert.deepEqual(parsePlain(b("\0tim@example.test\0tanstaaftanstaaf")), { ok: true, authzid: "", authcid: "tim@example.test", password: "tanstaaftanstaaf" });
  assert.deepEqual(parsePlain(b("Ursel\0Kurt\0xipj3plmq")), { ok: true, authzid: "Ursel", authcid: "Kurt", password: "xipj3plmq" });
  // Non-ASCII UTF-8 is fine; spaces and "=" are ordinary password characters.
  assert.deepEqual(parsePlain(b("\0jürgen@example.test\0pä ss=wörd")), { ok: true, authzid: "", authcid: "jürgen@example.test", password: "pä ss=wörd" });
});

test("parsePlain: hostile input is malformed, never an exception", () => {
  const cases: Array<[string, Buffer, RegExp]> = [
    ["no NUL", b("user password"), /NUL/],
    ["one NUL", b("user\0password"), /NUL/],
    ["three NULs", b("\0user\0pass\0word"), /more than two NULs/],
    ["empty", Buffer.alloc(0), /NUL/],
    ["empty user", b("\0\0password"), /empty user name/],
    ["empty password", b("\0user\0"), /empty password/],
    ["just NULs", b("\0\0"), /empty/],
    ["8-bit bytes, not UTF-8", Buffer.concat([b("\0user\0pass"), Buffer.from([0xff, 0xfe, 0x80])]), /UTF-8/],
    ["overlong UTF-8 NUL", Buffer.concat([b("\0user\0"), Buffer.from([0xc0, 0x80]), b("x")]), /UTF-8/],
    ["oversized field", b("\0user\0" + "a".repeat(2000)), /too long/],
    ["oversized message", Buffer.alloc(10_000, 0x41), /too long/],
  ];
  for (const [name, msg, why] of cases) {
    const r = parsePlain(msg);
    assert.equal(r.ok, false, name);
    assert.match((r as { message: string }).message, why, name);
  }
});

test("PlainExchange: empty challenge without initial response, then verifies", async () => {
  const hooks = new FakeHooks({ "tim@example.test": { password: "tanstaaftanstaaf" } });
  const ex = new PlainExchange(hooks);
  const first = await ex.step(null);
  assert.deepEqual(first, { kind: "challenge", data: Buffer.alloc(0) });
  const msg = b("\0Tim@Example.test\0tanstaaftanstaaf");
  const r = await ex.step(msg);
  assert.equal(r.kind, "success");
  assert.equal(r.kind === "success" && r.account.address, "tim@example.test");
  assert.equal(r.kind === "success" && r.data, null);
  assert.ok(msg.every((x) => x === 0), "the client message holding the password is zeroed");
  assert.equal((await ex.step(b("\0a\0b"))).kind, "failure", "no second attempt in one exchange");
});

test("PlainExchange: wrong password is invalid-credentials via the password check", async () => {
  const hooks = new FakeHooks({ "tim@example.test": { password: "right-password" } });
  const r = await new PlainExchange(hooks).step(b("\0tim@example.test\0wrong-password"));
  assert.deepEqual(r, { kind: "failure", reason: "invalid-credentials", message: "authentication failed" });
  assert.deepEqual(hooks.names(), ["verifyPassword"]);
});

test("PlainExchange: authzid must be empty or the user itself", async () => {
  const hooks = new FakeHooks({ "tim@example.test": { password: "right-password" } });
  const same = await new PlainExchange(hooks).step(b("TIM@example.test\0tim@example.test\0right-password"));
  assert.equal(same.kind, "success");
  const hooks2 = new FakeHooks({ "tim@example.test": { password: "right-password" } });
  const other = await new PlainExchange(hooks2).step(b("admin@example.test\0tim@example.test\0right-password"));
  assert.equal(other.kind, "failure");
  assert.equal(other.kind === "failure" && other.reason, "invalid-credentials");
  assert.deepEqual(hooks2.names(), ["fail"], "the password is not even checked");
  assert.equal(hooks2.calls[0]!.args[3], false, "not counted as a password guess");
});

test("PlainExchange: malformed messages are reported as malformed and do not reach the password check", async () => {
  const hooks = new FakeHooks();
  const r = await new PlainExchange(hooks).step(b("no nuls at all"));
  assert.equal(r.kind === "failure" && r.reason, "malformed");
  assert.deepEqual(hooks.names(), ["fail"]);
});
