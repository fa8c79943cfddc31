import { test } from "node:test";
import assert from "node:assert/strict";
import { deriveScram } from "../passwords.js";
import { decodeSaslname, parseClientFinal, parseClientFirst, ScramExchange, type ScramOptions } from "./scram.js";
import { ScramClient } from "./scram-client.js";
import { FakeHooks } from "./fake-hooks.test-helper.js";
import type { SaslStep } from "../types.js";

const b = (s: string) => Buffer.from(s, "utf8");
const text = (s: SaslStep) => (s.kind === "failure" ? `failure ${s.reason}: ${s.message}` : (s.data ?? Buffer.alloc(0)).toString());

// RFC 7677 §3
const V = {
  clientFirst: "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
  serverNonce: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
  serverFirst: "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
  clientFinal: "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
  serverFinal: "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
};

async function vectorUser() {
  return { user: { scram: await deriveScram("pencil", Buffer.from("W22ZaJ0SNY7soEsUEjb6gQ==", "base64"), 4096) } };
}

function exchange(hooks: FakeHooks, o: Partial<ScramOptions> = {}): ScramExchange {
  return new ScramExchange({
    plus: false,
    serverSupportsPlus: false,
    channelBinding: null,
    hooks,
    fakeSalt: () => Buffer.alloc(16, 7),
    ...o,
  });
}

test("RFC 7677 §3 test vector: SCRAM-SHA-256, user/pencil", async () => {
  const hooks = new FakeHooks(await vectorUser());
  const ex = exchange(hooks, { serverNonce: () => V.serverNonce });
  assert.equal(ex.mechanism, "SCRAM-SHA-256");
  const s1 = await ex.step(b(V.clientFirst));
  assert.equal(text(s1), V.serverFirst);
  const s2 = await ex.step(b(V.clientFinal));
  assert.equal(s2.kind, "success", text(s2));
  assert.equal(text(s2), V.serverFinal);
  assert.equal(s2.kind === "success" && s2.account.address, "user");
  assert.deepEqual(hooks.names(), ["begin", "succeed"]);
});

test("RFC 7677 §3 test vector: our test client produces the exact client-final proof", async () => {
  const c = new ScramClient({ username: "user", password: "pencil", nonce: "rOprNGfwEbeRWgbNEkqO" });
  assert.equal(c.clientFirst().toString(), V.clientFirst);
  assert.equal(c.clientFinal(V.serverFirst).toString(), V.clientFinal);
  assert.equal(c.verifyServerFinal(V.serverFinal), true);
});

test("RFC 7677 vector with a wrong proof fails as a counted guess", async () => {
  const hooks = new FakeHooks(await vectorUser());
  const ex = exchange(hooks, { serverNonce: () => V.serverNonce });
  await ex.step(b(V.clientFirst));
  const bad = V.clientFinal.replace("p=dHzb", "p=dHzc");
  const r = await ex.step(b(bad));
  assert.equal(text(r), "failure invalid-credentials: authentication failed");
  assert.deepEqual(hooks.calls.at(-1), { fn: "fail", args: ["invalid-credentials", "authentication failed", "user", true] });
});

test("no initial response: empty challenge first", async () => {
  const ex = exchange(new FakeHooks(await vectorUser()));
  assert.deepEqual(await ex.step(null), { kind: "challenge", data: Buffer.alloc(0) });
  const s1 = await ex.step(b(V.clientFirst));
  assert.equal(s1.kind, "challenge");
  assert.match(text(s1), /^r=rOprNGfwEbeRWgbNEkqO[A-Za-z0-9+/]{24},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096$/);
});

test("server nonces are random per exchange", async () => {
  const users = await vectorUser();
  const a = text(await exchange(new FakeHooks(users)).step(b(V.clientFirst)));
  const c = text(await exchange(new FakeHooks(users)).step(b(V.clientFirst)));
  assert.notEqual(a, c);
});

test("full exchange with the test client and a stored verifier", async () => {
  const scram = await deriveScram("correct horse", Buffer.alloc(16, 3), 4096);
  const hooks = new FakeHooks({ "kim@example.test": { scram } });
  const client = new ScramClient({ username: "Kim@Example.test", password: "correct horse" });
  const ex = exchange(hooks);
  const s1 = await ex.step(client.clientFirst());
  const s2 = await ex.step(client.clientFinal(s1.kind === "challenge" ? s1.data : ""));
  assert.equal(s2.kind, "success", text(s2));
  assert.equal(client.verifyServerFinal(s2.kind === "success" ? s2.data! : ""), true);
  assert.deepEqual(hooks.calls[0], { fn: "begin", args: ["kim@example.test"] });
});

test("unknown user: a fake exchange with a deterministic salt, failing only at the proof", async () => {
  const fakeSalt = (u: string) => Buffer.from(`salt-for-${u}`.padEnd(16, "x").slice(0, 16));
  const run = async () => {
    const hooks = new FakeHooks();
    const client = new ScramClient({ username: "nobody@example.test", password: "guess" });
    const ex = exchange(hooks, { fakeSalt, fakeIterations: 4096 });
    const s1 = await ex.step(client.clientFirst());
    assert.equal(s1.kind, "challenge", "no early failure: the user's existence does not show");
    const s2 = await ex.step(client.clientFinal(s1.kind === "challenge" ? s1.data : ""));
    assert.equal(text(s2), "failure invalid-credentials: authentication failed");
    assert.deepEqual(hooks.calls.at(-1)!.args, ["invalid-credentials", "authentication failed", "nobody@example.test", true]);
    return text(s1).split(",").slice(1).join(",");
  };
  const first = await run();
  assert.equal(first, `s=${fakeSalt("nobody@example.test").toString("base64")},i=4096`);
  assert.equal(await run(), first, "the same salt every time, like a real account");
});

test("throttle refusal at client-first ends the exchange", async () => {
  const hooks = new FakeHooks(await vectorUser());
  hooks.refuse = { kind: "failure", reason: "banned", message: "banned" };
  const r = await exchange(hooks).step(b(V.clientFirst));
  assert.equal(text(r), "failure banned: banned");
});

const CB = Buffer.from("0123456789abcdef0123456789abcdef", "hex");

test("SCRAM-SHA-256-PLUS with tls-exporter: matching channel binding succeeds", async () => {
  const scram = await deriveScram("correct horse", Buffer.alloc(16, 3), 4096);
  const hooks = new FakeHooks({ "kim@example.test": { scram } });
  const client = new ScramClient({ username: "kim@example.test", password: "correct horse", gs2Header: "p=tls-exporter,,", channelBinding: CB });
  const ex = exchange(hooks, { plus: true, serverSupportsPlus: true, channelBinding: () => CB });
  assert.equal(ex.mechanism, "SCRAM-SHA-256-PLUS");
  const s1 = await ex.step(client.clientFirst());
  const s2 = await ex.step(client.clientFinal(text(s1)));
  assert.equal(s2.kind, "success", text(s2));
  assert.equal(client.verifyServerFinal(s2.kind === "success" ? s2.data! : ""), true);
});

test("SCRAM-SHA-256-PLUS: channel binding data of another connection fails (man in the middle)", async () => {
  const scram = await deriveScram("correct horse", Buffer.alloc(16, 3), 4096);
  const hooks = new FakeHooks({ "kim@example.test": { scram } });
  const other = Buffer.from(CB);
  other[0]! ^= 1;
  const client = new ScramClient({ username: "kim@example.test", password: "correct horse", gs2Header: "p=tls-exporter,,", channelBinding: other });
  const ex = exchange(hooks, { plus: true, serverSupportsPlus: true, channelBinding: () => CB });
  const s1 = await ex.step(client.clientFirst());
  const s2 = await ex.step(client.clientFinal(text(s1)));
  assert.equal(s2.kind === "failure" && s2.reason, "invalid-credentials");
  assert.match(text(s2), /channel binding does not match/);
  assert.ok(!hooks.names().includes("succeed"));
});

test("SCRAM-SHA-256-PLUS: the client must use p=tls-exporter", async () => {
  const plus = { plus: true, serverSupportsPlus: true, channelBinding: () => CB };
  const n = await exchange(new FakeHooks(), plus).step(b("n,,n=user,r=abc"));
  assert.equal(n.kind === "failure" && n.reason, "malformed");
  const y = await exchange(new FakeHooks(), plus).step(b("y,,n=user,r=abc"));
  assert.equal(y.kind === "failure" && y.reason, "malformed");
  const unique = await exchange(new FakeHooks(), plus).step(b("p=tls-unique,,n=user,r=abc"));
  assert.equal(unique.kind === "failure" && unique.reason, "unsupported");
  const noCb = await exchange(new FakeHooks(), { ...plus, channelBinding: () => null }).step(b("p=tls-exporter,,n=user,r=abc"));
  assert.equal(noCb.kind === "failure" && noCb.reason, "unsupported");
});

test("downgrade: flag \"y\" on a connection that offered -PLUS fails (RFC 5802 §6)", async () => {
  const hooks = new FakeHooks(await vectorUser());
  const r = await exchange(hooks, { serverSupportsPlus: true, channelBinding: () => CB }).step(b("y,,n=user,r=abc"));
  assert.equal(r.kind, "failure");
  assert.match(text(r), /downgrade/);
  assert.ok(!hooks.names().includes("begin"), "no lookup happens");
});

test("flag \"y\" is fine when -PLUS was not offered; \"p\" needs the -PLUS mechanism", async () => {
  const scram = await deriveScram("pencil", Buffer.alloc(16, 1), 4096);
  const client = new ScramClient({ username: "user", password: "pencil", gs2Header: "y,," });
  const ex = exchange(new FakeHooks({ user: { scram } }));
  const s1 = await ex.step(client.clientFirst());
  const s2 = await ex.step(client.clientFinal(text(s1)));
  assert.equal(s2.kind, "success", text(s2));
  const p = await exchange(new FakeHooks()).step(b("p=tls-exporter,,n=user,r=abc"));
  assert.equal(p.kind === "failure" && p.reason, "malformed");
});

test("a c= that does not repeat the GS2 header fails (header tampering)", async () => {
  const hooks = new FakeHooks(await vectorUser());
  const ex = exchange(hooks, { serverNonce: () => V.serverNonce });
  await ex.step(b("y,,n=user,r=rOprNGfwEbeRWgbNEkqO"));
  const r = await ex.step(b(V.clientFinal)); // c=biws is "n,,"
  assert.match(text(r), /channel binding does not match/);
});

test("a changed nonce in client-final fails", async () => {
  const ex = exchange(new FakeHooks(await vectorUser()), { serverNonce: () => V.serverNonce });
  await ex.step(b(V.clientFirst));
  const r = await ex.step(b(V.clientFinal.replace("k0,p=", "k1,p=")));
  assert.match(text(r), /nonce does not match/);
});

test("authzid must be the user itself", async () => {
  const hooks = new FakeHooks(await vectorUser());
  const r = await exchange(hooks).step(b("n,a=admin,n=user,r=abc"));
  assert.equal(r.kind === "failure" && r.reason, "invalid-credentials");
  const ok = await exchange(new FakeHooks(await vectorUser())).step(b("n,a=USER,n=user,r=abc"));
  assert.equal(ok.kind, "challenge");
});

test("parseClientFirst: hostile input", () => {
  const bad: Array<[string, RegExp]> = [
    ["", /GS2 header/],
    ["n,", /GS2 header/],
    ["x,,n=user,r=abc", /flag/],
    ["p=,,n=user,r=abc", /flag/],
    ["n,,m=ext,n=user,r=abc", /mandatory extensions/],
    ["n,,r=abc,n=user", /n=<user>,r=<nonce>/],
    ["n,,n=user", /n=<user>,r=<nonce>/],
    ["n,,n=,r=abc", /user name/],
    ["n,,n=us=er,r=abc", /user name/],
    ["n,,n=user,r=", /nonce/],
    ["n,,n=user,r=a\u00e9b", /nonce/],
    ["n,,n=user,r=abc,1=x", /extension/],
    ["n,a,n=user,r=abc", /authzid/],
    ["n,,n=u\0ser,r=abc", /NUL/],
    ["n,,n=user,r=" + "a".repeat(5000), /too long/],
  ];
  for (const [msg, why] of bad) {
    const r = parseClientFirst(msg);
    assert.equal(r.ok, false, msg);
    assert.match((r as { message: string }).message, why, JSON.stringify(msg));
  }
  const ok = parseClientFirst("p=tls-exporter,a=x=2Cy,n=x=2Cy,r=abc,e=ext");
  assert.deepEqual(ok, {
    ok: true,
    value: { gs2Header: "p=tls-exporter,a=x=2Cy,", cbFlag: "p", cbName: "tls-exporter", authzid: "x,y", username: "x,y", nonce: "abc", bare: "n=x=2Cy,r=abc,e=ext" },
  });
});

test("parseClientFinal: hostile input", () => {
  const proof = Buffer.alloc(32, 1).toString("base64");
  const bad: Array<[string, RegExp]> = [
    ["", /c=,r=,p=/],
    ["c=biws,r=abc", /c=,r=,p=/],
    [`r=abc,c=biws,p=${proof}`, /c=,r=,p=/],
    [`c=b!ws,r=abc,p=${proof}`, /not base64/],
    [`c=,r=abc,p=${proof}`, /not base64/],
    ["c=biws,r=abc,p=AAAA", /32 bytes/],
    ["c=biws,r=abc,p=", /not base64/],
    [`c=biws,r=abc,m=x,p=${proof}`, /extension/],
    [`c=biws,r=,p=${proof}`, /nonce/],
  ];
  for (const [msg, why] of bad) {
    const r = parseClientFinal(msg);
    assert.equal(r.ok, false, msg);
    assert.match((r as { message: string }).message, why, msg);
  }
  const ok = parseClientFinal(`c=biws,r=abc,x=ext,p=${proof}`);
  assert.equal(ok.ok, true);
  assert.equal(ok.ok && ok.value.withoutProof, "c=biws,r=abc,x=ext");
  assert.equal(ok.ok && ok.value.channelBinding.toString(), "n,,");
});

test("decodeSaslname", () => {
  assert.equal(decodeSaslname("a=2Cb=3Dc"), "a,b=c");
  assert.equal(decodeSaslname("a=2cb"), null);
  assert.equal(decodeSaslname("a="), null);
  assert.equal(decodeSaslname(""), null);
});

test("8-bit garbage and a missing client-final are malformed", async () => {
  const r = await exchange(new FakeHooks()).step(Buffer.from([0x6e, 0x2c, 0x2c, 0xff, 0xfe]));
  assert.equal(r.kind === "failure" && r.reason, "malformed");
  const ex = exchange(new FakeHooks(await vectorUser()));
  await ex.step(b(V.clientFirst));
  const r2 = await ex.step(null);
  assert.equal(r2.kind === "failure" && r2.reason, "malformed");
  assert.equal((await ex.step(b(V.clientFinal))).kind, "failure", "the exchange is over");
});
