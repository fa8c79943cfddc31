import { test } from "node:test";
import assert from "node:assert/strict";
import { pbkdf2Sync, createHmac, createHash } from "node:crypto";
import { parseOptions, verify } from "@node-rs/argon2";
import { ARGON2_OPTIONS, deriveScram, DUMMY_HASH, makeCredentials, PasswordHasher, SCRAM_ITERATIONS } from "./passwords.js";
import { SaslprepError } from "./saslprep.js";

test("makeCredentials: argon2id PHC at OWASP parameters plus a SCRAM-SHA-256 verifier", async () => {
  const c = await makeCredentials("Tr0ub4dour&3-horse");
  assert.match(c.passwordHash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  const o = parseOptions(c.passwordHash);
  assert.equal(o.memoryCost, ARGON2_OPTIONS.memoryCost);
  assert.equal(o.timeCost, 2);
  assert.equal(o.parallelism, 1);
  assert.equal(await verify(c.passwordHash, "Tr0ub4dour&3-horse"), true);
  assert.equal(await verify(c.passwordHash, "tr0ub4dour&3-horse"), false);

  assert.equal(c.scram.salt.length, 16);
  assert.equal(c.scram.iterations, SCRAM_ITERATIONS);
  assert.ok(c.scram.iterations >= 4096); // RFC 7677 §4
  // RFC 5802 §3, computed independently here.
  const salted = pbkdf2Sync("Tr0ub4dour&3-horse", c.scram.salt, c.scram.iterations, 32, "sha256");
  const clientKey = createHmac("sha256", salted).update("Client Key").digest();
  assert.deepEqual(c.scram.storedKey, createHash("sha256").update(clientKey).digest());
  assert.deepEqual(c.scram.serverKey, createHmac("sha256", salted).update("Server Key").digest());
});

test("makeCredentials: salts differ between calls", async () => {
  const [a, b] = await Promise.all([makeCredentials("same password here"), makeCredentials("same password here")]);
  assert.notEqual(a.passwordHash, b.passwordHash);
  assert.notDeepEqual(a.scram.salt, b.scram.salt);
});

test("makeCredentials: SASLprep applies to both secrets, so equivalent spellings agree", async () => {
  const c = await makeCredentials("I\u00ADX-\u00A0strong-pass"); // soft hyphen dropped, NBSP -> space
  assert.equal(await verify(c.passwordHash, "IX- strong-pass"), true);
  const salted = pbkdf2Sync("IX- strong-pass", c.scram.salt, c.scram.iterations, 32, "sha256");
  const serverKey = createHmac("sha256", salted).update("Server Key").digest();
  assert.deepEqual(c.scram.serverKey, serverKey);
});

test("makeCredentials: a password with prohibited characters is refused", async () => {
  await assert.rejects(makeCredentials("bell\u0007character"), SaslprepError);
});

test("deriveScram refuses fewer than 4096 iterations (RFC 7677 §4)", async () => {
  await assert.rejects(deriveScram("pencil", Buffer.alloc(16), 4095), RangeError);
});

test("PasswordHasher never runs more than `workers` argon2 operations at once", async () => {
  const hasher = new PasswordHasher(1);
  let peak = 0;
  const timer = setInterval(() => (peak = Math.max(peak, hasher.active)), 1);
  const jobs = [hasher.verify(DUMMY_HASH, "a"), hasher.verify(DUMMY_HASH, "b"), hasher.verify(DUMMY_HASH, "c")];
  assert.equal(hasher.active, 1);
  assert.equal(hasher.waiting, 2);
  const results = await Promise.all(jobs);
  clearInterval(timer);
  assert.deepEqual(results, [false, false, false]);
  assert.equal(peak, 1);
  assert.equal(hasher.active, 0);
});

test("PasswordHasher.verify: a malformed stored hash is a mismatch, not an exception", async () => {
  const hasher = new PasswordHasher(2);
  assert.equal(await hasher.verify("not-a-phc-string", "whatever"), false);
  const h = await hasher.hash("round trip pw");
  assert.equal(await hasher.verify(h, "round trip pw"), true);
});
