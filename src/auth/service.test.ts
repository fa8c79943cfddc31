import { test, before } from "node:test";
import assert from "node:assert/strict";
import { configSchema, type Config } from "../config/schema.js";
import { createLogger } from "../log/audit.js";
import type { AuthThrottle, ThrottleVerdict } from "../policy/types.js";
import type { Account, Credentials, Store } from "../store/types.js";
import { createAuthService, makeCredentials } from "./index.js";
import { DUMMY_HASH, PasswordHasher } from "./passwords.js";
import { DefaultAuthService } from "./service.js";
import { ScramClient } from "./sasl/scram-client.js";
import type { AuthContext, SaslStep } from "./types.js";

const PASSWORD = "Gl4cier-Otter-Velvet";
const ALL_LOG_LINES: string[] = [];
let creds: Credentials;

before(async () => {
  creds = await makeCredentials(PASSWORD);
});

function config(auth: Record<string, unknown> = {}): Config {
  return configSchema.parse({ server: { hostname: "mail.example.test" }, auth });
}

class FakeThrottle implements AuthThrottle {
  calls: Array<[string, string, string]> = [];
  verdict: ThrottleVerdict = { action: "proceed", delayMs: 0 };
  banOnFailure = false;
  before(ip: string, username: string): ThrottleVerdict {
    this.calls.push(["before", ip, username]);
    return this.verdict;
  }
  async failure(ip: string, username: string): Promise<{ banned: boolean }> {
    this.calls.push(["failure", ip, username]);
    return { banned: this.banOnFailure };
  }
  success(ip: string, username: string): void {
    this.calls.push(["success", ip, username]);
  }
  names(): string[] {
    return this.calls.map((c) => c[0]);
  }
}

class CountingHasher extends PasswordHasher {
  verified: string[] = [];
  peak = 0;
  override async verify(phc: string, prepared: string, signal?: AbortSignal): Promise<boolean> {
    this.verified.push(phc);
    const p = super.verify(phc, prepared, signal);
    this.peak = Math.max(this.peak, this.active);
    return p;
  }
}

function account(address: string, o: Partial<Account> = {}): Account {
  return { id: 7, address, domainId: 1, credentials: creds, quotaBytes: null, disabled: false, createdAt: new Date(0), ...o };
}

function setup(o: { auth?: Record<string, unknown>; accounts?: Account[]; hasherWorkers?: number } = {}) {
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger({
    destination: {
      write(s: string) {
        ALL_LOG_LINES.push(s);
        lines.push(JSON.parse(s) as Record<string, unknown>);
        return true;
      },
    } as unknown as NodeJS.WritableStream,
  });
  const accounts = new Map((o.accounts ?? [account("alice@example.test")]).map((a) => [a.address, a]));
  const lookups: string[] = [];
  const store: Pick<Store, "getAccount"> = {
    async getAccount(address: string) {
      lookups.push(address);
      return accounts.get(address) ?? null;
    },
  };
  const throttle = new FakeThrottle();
  const cfg = config(o.auth);
  const hasher = new CountingHasher(o.hasherWorkers ?? cfg.auth.hash_workers);
  const auth = new DefaultAuthService({ config: cfg, store, log, throttle, hasher });
  const events = () => lines.filter((l) => typeof l.event === "string" && String(l.event).startsWith("auth."));
  return { auth, throttle, lookups, hasher, events, lines };
}

function ctx(o: Partial<AuthContext> = {}): AuthContext {
  return {
    remoteAddress: "192.0.2.10",
    protocol: "imap",
    secure: true,
    passwordAuthAllowed: true,
    channelBinding: null,
    connectionId: "c1",
    ...o,
  };
}

const b = (s: string) => Buffer.from(s);
const data = (s: SaslStep) => (s.kind === "failure" ? "" : (s.data ?? Buffer.alloc(0)).toString());

test("createAuthService builds a working service from the agreed entry point", async () => {
  const log = createLogger({ level: "silent" });
  const svc = createAuthService({
    config: config(),
    store: { getAccount: async (a: string) => (a === "alice@example.test" ? account(a) : null) },
    log,
    throttle: new FakeThrottle(),
  });
  const r = await svc.verifyPassword("alice@example.test", PASSWORD, ctx());
  assert.equal(r.ok, true);
});

test("right password: success, throttle told, auth.success logged", async () => {
  const s = setup();
  const r = await s.auth.verifyPassword("alice@example.test", PASSWORD, ctx());
  assert.equal(r.ok, true);
  assert.equal(r.ok && r.account.address, "alice@example.test");
  assert.deepEqual(s.throttle.calls, [["before", "192.0.2.10", "alice@example.test"], ["success", "192.0.2.10", "alice@example.test"]]);
  const [e] = s.events();
  assert.equal(s.events().length, 1);
  assert.deepEqual(
    { event: e!.event, account: e!.account, ip: e!.ip, protocol: e!.protocol, mechanism: e!.mechanism, conn: e!.conn },
    { event: "auth.success", account: "alice@example.test", ip: "192.0.2.10", protocol: "imap", mechanism: "password", conn: "c1" },
  );
});

test("user names are case-insensitive addresses", async () => {
  const s = setup();
  const r = await s.auth.verifyPassword("Alice@EXAMPLE.test", PASSWORD, ctx());
  assert.equal(r.ok, true);
  assert.deepEqual(s.lookups, ["alice@example.test"]);
});

test("SASLprep applies at login: an equivalent spelling of the password matches", async () => {
  const s = setup();
  const r = await s.auth.verifyPassword("alice@example.test", "Gl4cier-\u00ADOtter-Velvet", ctx()); // soft hyphen is mapped to nothing
  assert.equal(r.ok, true);
});

test("wrong password: invalid-credentials, counted, logged with reason", async () => {
  const s = setup();
  const r = await s.auth.verifyPassword("alice@example.test", "wrong-password", ctx());
  assert.deepEqual(r, { ok: false, reason: "invalid-credentials", message: "authentication failed" });
  assert.deepEqual(s.throttle.names(), ["before", "failure"]);
  const [e] = s.events();
  assert.equal(e!.event, "auth.failure");
  assert.equal(e!.reason, "invalid-credentials");
  assert.equal(e!.username, "alice@example.test");
  assert.equal(e!.detail, "wrong password");
  assert.equal(e!.level, "warn");
});

test("unknown user: the same answer, after an argon2 verify against the dummy hash", async () => {
  const s = setup();
  const r = await s.auth.verifyPassword("mallory@example.test", PASSWORD, ctx());
  assert.deepEqual(r, { ok: false, reason: "invalid-credentials", message: "authentication failed" });
  assert.deepEqual(s.hasher.verified, [DUMMY_HASH]);
  assert.deepEqual(s.throttle.names(), ["before", "failure"]);
  assert.equal(s.events()[0]!.detail, "unknown user");
});

test("disabled account with the right password fails like a wrong password", async () => {
  const s = setup({ accounts: [account("alice@example.test", { disabled: true })] });
  const r = await s.auth.verifyPassword("alice@example.test", PASSWORD, ctx());
  assert.deepEqual(r, { ok: false, reason: "invalid-credentials", message: "authentication failed" });
  assert.deepEqual(s.hasher.verified, [DUMMY_HASH]);
  assert.deepEqual(s.throttle.names(), ["before", "failure"]);
  assert.equal(s.events()[0]!.detail, "account disabled");
});

test("account without a password cannot log in, and still costs one verify", async () => {
  const s = setup({ accounts: [account("alice@example.test", { credentials: null })] });
  const r = await s.auth.verifyPassword("alice@example.test", "", ctx());
  assert.equal(r.ok, false);
  assert.equal(s.hasher.verified.length, 1);
  assert.equal(s.events()[0]!.detail, "no password set");
});

test("no TLS: encryption-required, no throttle, no lookup, no mechanisms, SASL refused", async () => {
  const s = setup();
  const clear = ctx({ secure: false, passwordAuthAllowed: false });
  const r = await s.auth.verifyPassword("alice@example.test", PASSWORD, clear);
  assert.equal(r.ok === false && r.reason, "encryption-required");
  assert.deepEqual(s.throttle.calls, []);
  assert.deepEqual(s.lookups, []);
  assert.deepEqual(s.auth.mechanisms(clear), []);
  for (const m of ["PLAIN", "LOGIN", "SCRAM-SHA-256"]) {
    const step = await s.auth.startSasl(m, clear).step(b("\0alice@example.test\0" + PASSWORD));
    assert.equal(step.kind === "failure" && step.reason, "encryption-required", m);
  }
  assert.ok(s.events().every((e) => e.event === "auth.failure" && e.reason === "encryption-required"));
  assert.equal(s.events().length, 4);
});

test("loopback listener with allow_insecure_auth: passwordAuthAllowed without TLS works", async () => {
  const s = setup();
  const r = await s.auth.verifyPassword("alice@example.test", PASSWORD, ctx({ secure: false, passwordAuthAllowed: true }));
  assert.equal(r.ok, true);
  assert.deepEqual(s.auth.mechanisms({ secure: false, passwordAuthAllowed: true, channelBinding: () => b("x") }), ["SCRAM-SHA-256", "PLAIN", "LOGIN"]);
});

test("the throttle's delay is waited for before the password is checked", async () => {
  const s = setup();
  s.throttle.verdict = { action: "proceed", delayMs: 250 };
  const t0 = performance.now();
  const r = await s.auth.verifyPassword("alice@example.test", PASSWORD, ctx());
  assert.ok(performance.now() - t0 >= 245, `waited ${performance.now() - t0} ms`);
  assert.equal(r.ok, true);
});

test("the delay stops when the connection goes away: aborted, not counted", async () => {
  const s = setup();
  s.throttle.verdict = { action: "proceed", delayMs: 60_000 };
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 20);
  const t0 = performance.now();
  const r = await s.auth.verifyPassword("alice@example.test", PASSWORD, ctx({ signal: ac.signal }));
  assert.ok(performance.now() - t0 < 5_000);
  assert.equal(r.ok === false && r.reason, "aborted");
  assert.deepEqual(s.throttle.names(), ["before"]);
  assert.deepEqual(s.hasher.verified, []);
  // The IP's slot was released.
  s.throttle.verdict = { action: "proceed", delayMs: 0 };
  assert.equal((await s.auth.verifyPassword("alice@example.test", PASSWORD, ctx())).ok, true);
});

test("throttle refusal: banned or throttled at once, without lookup or hashing", async () => {
  for (const reason of ["banned", "throttled"] as const) {
    const s = setup();
    s.throttle.verdict = { action: "refuse", reason, retryAfterMs: 60_000 };
    const r = await s.auth.verifyPassword("alice@example.test", PASSWORD, ctx());
    assert.equal(r.ok === false && r.reason, reason);
    assert.deepEqual(s.lookups, []);
    assert.deepEqual(s.hasher.verified, []);
    assert.deepEqual(s.throttle.names(), ["before"]);
    assert.equal(s.events()[0]!.reason, reason);
    assert.equal(s.events()[0]!.retryAfterMs, 60_000);
  }
});

test("a failure that crosses the ban threshold answers banned", async () => {
  const s = setup();
  s.throttle.banOnFailure = true;
  const r = await s.auth.verifyPassword("alice@example.test", "wrong-password", ctx());
  assert.equal(r.ok === false && r.reason, "banned");
  assert.equal(s.events()[0]!.reason, "banned");
});

test("at most max_concurrent_per_ip verifications per client IP; the others wait their turn", async () => {
  const s = setup({ auth: { max_concurrent_per_ip: 1, hash_workers: 4 } });
  const first = s.auth.verifyPassword("alice@example.test", PASSWORD, ctx());
  const second = s.auth.verifyPassword("alice@example.test", PASSWORD, ctx());
  const otherIp = s.auth.verifyPassword("alice@example.test", PASSWORD, ctx({ remoteAddress: "198.51.100.7" }));
  const [r1, r2, r3] = await Promise.all([first, second, otherIp]);
  assert.equal(r1.ok, true);
  assert.equal(r2.ok, true, "a client's parallel logins are served one after the other");
  assert.equal(r3.ok, true);
  assert.equal(s.hasher.peak, 2, "one from 192.0.2.x and one from 198.51.100.7 at a time, never two from one IP");
  assert.equal(s.throttle.calls.filter((c) => c[0] === "failure").length, 0, "not counted as a guess");
});

test("logins from one IP past the waiting line are refused as throttled, not counted as guesses", async () => {
  const s = setup({ auth: { max_concurrent_per_ip: 1, hash_workers: 4 } });
  const all = await Promise.all(Array.from({ length: 19 }, () => s.auth.verifyPassword("alice@example.test", PASSWORD, ctx())));
  const refused = all.filter((r) => r.ok === false);
  assert.equal(refused.length, 2, "1 in flight + 16 waiting are served; the 18th and 19th are refused");
  for (const r of refused) assert.equal(r.ok === false && r.reason, "throttled");
  assert.equal(s.throttle.calls.filter((c) => c[0] === "failure").length, 0);
});

test("the per-IP cap counts an IPv6 /64 as one client", async () => {
  const s = setup({ auth: { max_concurrent_per_ip: 1, hash_workers: 4 } });
  const [a, c, d] = await Promise.all([
    s.auth.verifyPassword("alice@example.test", PASSWORD, ctx({ remoteAddress: "2001:db8:1:2::1" })),
    s.auth.verifyPassword("alice@example.test", PASSWORD, ctx({ remoteAddress: "2001:db8:1:2:ffff::9" })),
    s.auth.verifyPassword("alice@example.test", PASSWORD, ctx({ remoteAddress: "2001:db8:1:3::1" })),
  ]);
  assert.ok(a.ok && c.ok && d.ok);
  assert.equal(s.hasher.peak, 2, "the two addresses of one /64 never verify at the same time; the other /64 runs beside them");
});

test("hash_workers bounds argon2 verifications across all clients", async () => {
  const s = setup({ auth: { hash_workers: 1, max_concurrent_per_ip: 10 } });
  const all = await Promise.all(
    [1, 2, 3, 4].map((i) => s.auth.verifyPassword("alice@example.test", i % 2 ? PASSWORD : "nope", ctx({ remoteAddress: `192.0.2.${i}` }))),
  );
  assert.deepEqual(all.map((r) => r.ok), [true, false, true, false]);
  assert.equal(s.hasher.peak, 1);
});

test("mechanisms: -PLUS only with TLS and channel binding data", () => {
  const s = setup();
  assert.deepEqual(s.auth.mechanisms({ secure: true, passwordAuthAllowed: true, channelBinding: () => b("cb") }), [
    "SCRAM-SHA-256-PLUS",
    "SCRAM-SHA-256",
    "PLAIN",
    "LOGIN",
  ]);
  assert.deepEqual(s.auth.mechanisms({ secure: true, passwordAuthAllowed: true, channelBinding: () => null }), ["SCRAM-SHA-256", "PLAIN", "LOGIN"]);
  assert.deepEqual(s.auth.mechanisms({ secure: true, passwordAuthAllowed: true, channelBinding: null }), ["SCRAM-SHA-256", "PLAIN", "LOGIN"]);
});

test("startSasl: unknown mechanisms are unsupported (and logged)", async () => {
  const s = setup();
  for (const m of ["CRAM-MD5", "GSSAPI", "XOAUTH2"]) {
    const step = await s.auth.startSasl(m, ctx()).step(null);
    assert.equal(step.kind === "failure" && step.reason, "unsupported", m);
  }
  assert.equal(s.events().length, 3);
  const plus = await s.auth.startSasl("SCRAM-SHA-256-PLUS", ctx({ channelBinding: null })).step(null);
  assert.equal(plus.kind === "failure" && plus.reason, "unsupported");
});

test("startSasl PLAIN and LOGIN go through the password check (lower-case mechanism names accepted)", async () => {
  const s = setup();
  const plain = await s.auth.startSasl("plain", ctx()).step(b("\0alice@example.test\0" + PASSWORD));
  assert.equal(plain.kind, "success");
  const login = s.auth.startSasl("LOGIN", ctx());
  await login.step(null);
  await login.step(b("alice@example.test"));
  const l = await login.step(b("wrong-password"));
  assert.equal(l.kind === "failure" && l.reason, "invalid-credentials");
  assert.deepEqual(s.events().map((e) => [e.event, e.mechanism]), [["auth.success", "PLAIN"], ["auth.failure", "LOGIN"]]);
  assert.deepEqual(s.throttle.names(), ["before", "success", "before", "failure"]);
});

test("startSasl PLAIN with a malformed message is logged, not counted", async () => {
  const s = setup();
  const r = await s.auth.startSasl("PLAIN", ctx()).step(b("garbage"));
  assert.equal(r.kind === "failure" && r.reason, "malformed");
  assert.deepEqual(s.throttle.calls, []);
  assert.equal(s.events()[0]!.reason, "malformed");
});

async function scramLogin(s: ReturnType<typeof setup>, c: AuthContext, mechanism: string, client: ScramClient) {
  const ex = s.auth.startSasl(mechanism, c);
  const s1 = await ex.step(client.clientFirst());
  if (s1.kind !== "challenge") return s1;
  return ex.step(client.clientFinal(data(s1)));
}

test("SCRAM-SHA-256 through the service: success with server signature, throttle and audit", async () => {
  const s = setup();
  const client = new ScramClient({ username: "Alice@example.test", password: PASSWORD });
  const r = await scramLogin(s, ctx(), "SCRAM-SHA-256", client);
  assert.equal(r.kind, "success");
  assert.equal(client.verifyServerFinal(data(r)), true);
  assert.deepEqual(s.throttle.names(), ["before", "success"]);
  assert.deepEqual(s.events().map((e) => [e.event, e.mechanism, e.account]), [["auth.success", "SCRAM-SHA-256", "alice@example.test"]]);
});

test("SCRAM-SHA-256 wrong password and unknown user: counted failures, no difference on the wire", async () => {
  const s = setup();
  const wrong = await scramLogin(s, ctx(), "SCRAM-SHA-256", new ScramClient({ username: "alice@example.test", password: "nope-nope" }));
  const unknown = await scramLogin(s, ctx(), "SCRAM-SHA-256", new ScramClient({ username: "ghost@example.test", password: "nope-nope" }));
  assert.deepEqual(wrong, unknown);
  assert.equal(wrong.kind === "failure" && wrong.reason, "invalid-credentials");
  assert.deepEqual(s.throttle.names(), ["before", "failure", "before", "failure"]);
  assert.deepEqual(s.events().map((e) => e.detail), ["wrong password", "unknown user"]);
  // The fake salt for an unknown user is stable within the service.
  const first = async () => data(await s.auth.startSasl("SCRAM-SHA-256", ctx()).step(new ScramClient({ username: "ghost@example.test", password: "x" }).clientFirst()));
  const salt = (sf: string) => sf.split(",").slice(1).join(",");
  assert.equal(salt(await first()), salt(await first()));
});

test("SCRAM: disabled account fails at the proof even with the right password", async () => {
  const s = setup({ accounts: [account("alice@example.test", { disabled: true })] });
  const r = await scramLogin(s, ctx(), "SCRAM-SHA-256", new ScramClient({ username: "alice@example.test", password: PASSWORD }));
  assert.equal(r.kind === "failure" && r.reason, "invalid-credentials");
  assert.equal(s.events()[0]!.detail, "account disabled");
});

test("SCRAM: throttle refusal and ban on failure apply", async () => {
  const s = setup();
  s.throttle.verdict = { action: "refuse", reason: "banned", retryAfterMs: 1000 };
  const r = await scramLogin(s, ctx(), "SCRAM-SHA-256", new ScramClient({ username: "alice@example.test", password: PASSWORD }));
  assert.equal(r.kind === "failure" && r.reason, "banned");
  assert.deepEqual(s.lookups, []);
  const s2 = setup();
  s2.throttle.banOnFailure = true;
  const r2 = await scramLogin(s2, ctx(), "SCRAM-SHA-256", new ScramClient({ username: "alice@example.test", password: "wrong" }));
  assert.equal(r2.kind === "failure" && r2.reason, "banned");
});

test("SCRAM-SHA-256-PLUS through the service, and downgrade refusal", async () => {
  const s = setup();
  const cb = b("exporter-bytes-of-this-tls-connection");
  const c = ctx({ channelBinding: () => cb });
  const ok = await scramLogin(s, c, "SCRAM-SHA-256-PLUS", new ScramClient({ username: "alice@example.test", password: PASSWORD, gs2Header: "p=tls-exporter,,", channelBinding: cb }));
  assert.equal(ok.kind, "success");
  const mitm = await scramLogin(s, c, "SCRAM-SHA-256-PLUS", new ScramClient({ username: "alice@example.test", password: PASSWORD, gs2Header: "p=tls-exporter,,", channelBinding: b("another connection") }));
  assert.equal(mitm.kind, "failure");
  const down = await scramLogin(s, c, "SCRAM-SHA-256", new ScramClient({ username: "alice@example.test", password: PASSWORD, gs2Header: "y,," }));
  assert.equal(down.kind, "failure");
  assert.deepEqual(s.events().map((e) => e.event), ["auth.success", "auth.failure", "auth.failure"]);
});

test("no log line ever contains a password", () => {
  assert.ok(ALL_LOG_LINES.length > 20, `captured ${ALL_LOG_LINES.length} lines`);
  for (const line of ALL_LOG_LINES) {
    for (const secret of [PASSWORD, "wrong-password", "nope-nope", "Gl4cier"]) assert.ok(!line.includes(secret), line);
  }
});
