import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { checkPasswordStrength, commonPasswordListSize } from "./password-policy.js";

test("short passwords are refused, saying why", async () => {
  const r = await checkPasswordStrength("Xk9#q2!vB");
  assert.deepEqual(r, { ok: false, reason: "the password must be at least 10 characters long" });
  // Characters, not bytes or UTF-16 units: nine emoji are still nine characters.
  const emoji = await checkPasswordStrength("😀".repeat(9));
  assert.equal(emoji.ok, false);
});

test("passwords from the common/breached list are refused, case-insensitively", async () => {
  for (const p of ["password1234", "qwertyuiop", "QWERTYUIOP", "Password1234", "1234567890"]) {
    const r = await checkPasswordStrength(p);
    assert.equal(r.ok, false, p);
    assert.match((r as { reason: string }).reason, /in a list of 1,000,000 commonly used or breached passwords/, p);
  }
});

test("a strong random password is accepted", async () => {
  const p = randomBytes(18).toString("base64");
  assert.deepEqual(await checkPasswordStrength(p), { ok: true });
  assert.deepEqual(await checkPasswordStrength("violet tram harbour 1987 kettle"), { ok: true });
});

test("the address or its local part is refused as password", async () => {
  const address = "Margaret.Hamilton@example.test";
  for (const p of ["margaret.hamilton@example.test", "MARGARET.HAMILTON", "margaret.hamilton"]) {
    const r = await checkPasswordStrength(p, { address });
    assert.equal(r.ok, false, p);
    assert.match((r as { reason: string }).reason, /address/);
  }
  assert.deepEqual(await checkPasswordStrength("margaret.hamilton", {}), { ok: true });
});

test("characters that cannot be stored are refused", async () => {
  const r = await checkPasswordStrength("long enough\u0000password");
  assert.equal(r.ok, false);
  assert.match((r as { reason: string }).reason, /cannot be used/);
});

test("the whole shipped list is read; at least 100,000 entries of 10+ characters are checked", async () => {
  const size = await commonPasswordListSize();
  assert.ok(size.lines >= 999_000, `lines read: ${size.lines}`);
  assert.ok(size.entries >= 100_000, `entries checked: ${size.entries}`);
});
