import { test } from "node:test";
import assert from "node:assert/strict";
import { configSchema } from "../config/schema.js";
import { createAccessPolicy } from "./access.js";
import { AddressError } from "./cidr.js";

function policy(access: Record<string, unknown>) {
  return createAccessPolicy(configSchema.parse({ server: { hostname: "mail.example.test" }, access }).access);
}

test("no rules: everyone is allowed, no rule decided", () => {
  const p = policy({});
  assert.deepEqual(p.check("imap", "192.0.2.1"), { allowed: true, rule: null });
  assert.deepEqual(p.check("smtp", "2001:db8::1"), { allowed: true, rule: null });
});

test("order: listener allow, listener deny, global allow, global deny; first match decides", () => {
  const p = policy({
    allow: ["10.1.0.0/16"],
    deny: ["10.0.0.0/8", "2001:db8::/32"],
    listener: {
      imap: { allow: ["10.1.2.0/24"], deny: ["10.1.0.0/16", "10.9.9.9"] },
      pop3: { deny: ["0.0.0.0/0"] },
    },
  });
  const cases: Array<[string, string, boolean, string | null]> = [
    // listener allow beats listener deny and global deny
    ["imap", "10.1.2.3", true, "allow 10.1.2.0/24 (listener imap)"],
    // listener deny beats global allow
    ["imap", "10.1.3.3", false, "deny 10.1.0.0/16 (listener imap)"],
    ["imap", "10.9.9.9", false, "deny 10.9.9.9 (listener imap)"],
    // falls through the listener's rules to the global ones
    ["imap", "10.2.0.1", false, "deny 10.0.0.0/8 (global)"],
    ["imap", "192.0.2.1", true, null],
    // a listener without its own rules uses the global ones: global allow beats global deny
    ["smtp", "10.1.3.3", true, "allow 10.1.0.0/16 (global)"],
    ["smtp", "10.2.0.1", false, "deny 10.0.0.0/8 (global)"],
    ["smtp", "2001:db8:1::1", false, "deny 2001:db8::/32 (global)"],
    ["smtp", "2001:db9::1", true, null],
    // pop3 denies all IPv4 but global allow is never reached before the listener deny
    ["pop3", "10.1.3.3", false, "deny 0.0.0.0/0 (listener pop3)"],
    ["pop3", "2001:db9::1", true, null], // 0.0.0.0/0 does not cover IPv6
  ];
  for (const [listener, ip, allowed, rule] of cases) {
    assert.deepEqual(p.check(listener, ip), { allowed, rule }, `${listener} ${ip}`);
  }
});

test("IPv4 clients of dual-stack sockets (mapped addresses) match IPv4 rules", () => {
  const p = policy({ deny: ["198.51.100.0/24"], listener: { imap: { allow: ["::ffff:198.51.100.7"] } } });
  assert.deepEqual(p.check("imap", "::ffff:198.51.100.7"), { allowed: true, rule: "allow ::ffff:198.51.100.7 (listener imap)" });
  assert.deepEqual(p.check("imap", "::ffff:198.51.100.8"), { allowed: false, rule: "deny 198.51.100.0/24 (global)" });
  assert.deepEqual(p.check("smtp", "::FFFF:198.51.100.9"), { allowed: false, rule: "deny 198.51.100.0/24 (global)" });
});

test("IPv6 networks and zone ids", () => {
  const p = policy({ listener: { imaps: { allow: ["fe80::/10"], deny: ["::/0"] } } });
  assert.equal(p.check("imaps", "fe80::1%eth0").allowed, true);
  assert.deepEqual(p.check("imaps", "2001:db8::1"), { allowed: false, rule: "deny ::/0 (listener imaps)" });
  assert.deepEqual(p.check("imaps", "192.0.2.1"), { allowed: true, rule: null });
});

test("an unparsable client address is refused", () => {
  const p = policy({});
  for (const ip of ["", "unknown", "192.0.2.999", "1.2.3.4\r\nX"]) {
    const d = p.check("smtp", ip);
    assert.equal(d.allowed, false, JSON.stringify(ip));
    assert.ok(d.rule);
  }
});

test("a bad rule is an error naming its key", () => {
  // The schema's pattern lets some bad values through (e.g. 300 in a part); the policy refuses them.
  assert.throws(() => policy({ listener: { imap: { deny: ["10.0.0.300"] } } }), (err: unknown) => {
    assert.ok(err instanceof AddressError);
    assert.match(err.message, /access\.listener\.imap\.deny\[0\]/);
    return true;
  });
  assert.throws(() => policy({ allow: ["192.0.2.0/40"] }), /access\.allow\[0\]/);
});
