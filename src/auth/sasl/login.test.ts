import { test } from "node:test";
import assert from "node:assert/strict";
import { LoginExchange, parseLoginField } from "./login.js";
import { FakeHooks } from "./fake-hooks.test-helper.js";

const b = (s: string) => Buffer.from(s, "utf8");

test("LOGIN: Username: then Password: then success", async () => {
  const hooks = new FakeHooks({ "tim@example.test": { password: "tanstaaftanstaaf" } });
  const ex = new LoginExchange(hooks);
  assert.deepEqual(await ex.step(null), { kind: "challenge", data: b("Username:") });
  assert.deepEqual(await ex.step(b("tim@example.test")), { kind: "challenge", data: b("Password:") });
  const pw = b("tanstaaftanstaaf");
  const r = await ex.step(pw);
  assert.equal(r.kind, "success");
  assert.ok(pw.every((x) => x === 0), "password bytes zeroed");
  assert.equal((await ex.step(b("again"))).kind, "failure");
});

test("LOGIN: user name as initial response skips the first challenge", async () => {
  const hooks = new FakeHooks({ "tim@example.test": { password: "tanstaaftanstaaf" } });
  const ex = new LoginExchange(hooks);
  assert.deepEqual(await ex.step(b("tim@example.test")), { kind: "challenge", data: b("Password:") });
  assert.equal((await ex.step(b("wrong"))).kind, "failure");
  assert.deepEqual(hooks.calls[0], { fn: "verifyPassword", args: ["tim@example.test", "wrong"] });
});

test("LOGIN: an empty initial response (SMTP \"=\") asks for the user name", async () => {
  const ex = new LoginExchange(new FakeHooks());
  assert.deepEqual(await ex.step(Buffer.alloc(0)), { kind: "challenge", data: b("Username:") });
});

test("LOGIN: hostile answers are malformed", async () => {
  const cases: Array<[string, Buffer[], RegExp]> = [
    ["empty user", [b("")], /user name is empty/],
    ["8-bit user", [Buffer.from([0x80, 0x81])], /not valid UTF-8/],
    ["NUL in user", [b("a\0b")], /NUL/],
    ["huge user", [Buffer.alloc(5000, 0x61)], /too long/],
    ["empty password", [b("tim@example.test"), b("")], /password is empty/],
    ["8-bit password", [b("tim@example.test"), Buffer.from([0xff])], /not valid UTF-8/],
  ];
  for (const [name, answers, why] of cases) {
    const hooks = new FakeHooks();
    const ex = new LoginExchange(hooks);
    await ex.step(null);
    let last = await ex.step(answers[0]!);
    for (const a of answers.slice(1)) last = await ex.step(a);
    assert.equal(last.kind === "failure" && last.reason, "malformed", name);
    assert.match(last.kind === "failure" ? last.message : "", why, name);
    assert.ok(!hooks.names().includes("verifyPassword"), name);
  }
});

test("parseLoginField accepts UTF-8 passwords with spaces", () => {
  assert.deepEqual(parseLoginField(b("pä ss wörd"), "password"), { ok: true, value: "pä ss wörd" });
});
