import { test } from "node:test";
import assert from "node:assert/strict";
import { parsePolicy, parseStsRecord, mxMatches, MtaStsPolicies } from "./mtasts.js";
import type { DnsResolver } from "./dns.js";

test("the _mta-sts TXT record (RFC 8461 §3.1)", () => {
  assert.deepEqual(parseStsRecord("v=STSv1; id=20160831085700Z;"), { id: "20160831085700Z" });
  assert.deepEqual(parseStsRecord("v=STSv1;id=abc"), { id: "abc" });
  assert.equal(parseStsRecord("v=STSv2; id=abc"), null);
  assert.equal(parseStsRecord("id=abc; v=STSv1"), null, "v= must come first");
  assert.equal(parseStsRecord("v=STSv1; id=not-alnum"), null);
  assert.equal(parseStsRecord("v=STSv1"), null);
});

test("policy files (RFC 8461 §3.2), including the RFC's example", () => {
  assert.deepEqual(parsePolicy("version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\nmx: backupmx.example.com\nmax_age: 604800\n"), {
    mode: "enforce",
    mx: ["mail.example.com", "*.example.net", "backupmx.example.com"],
    maxAgeSec: 604800,
  });
  assert.deepEqual(parsePolicy("version: STSv1\r\nmode: none\r\nmax_age: 86400\r\nunknown_key: ignored\r\n"), { mode: "none", mx: [], maxAgeSec: 86400 });
  assert.equal(parsePolicy("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 99999999999\n").hasOwnProperty("error"), true);
  assert.equal((parsePolicy("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 999999999\n") as { maxAgeSec: number }).maxAgeSec, 31_557_600, "capped at one year");
  for (const bad of [
    "mode: enforce\nmx: a.example\nmax_age: 1\n",
    "version: STSv1\nmode: strict\nmx: a.example\nmax_age: 1\n",
    "version: STSv1\nmode: enforce\nmax_age: 1\n",
    "version: STSv1\nmode: enforce\nmx: a.example\n",
    "version: STSv1\nmode: enforce\nmx: a..example\nmax_age: 1\n",
    "<html>not a policy</html>",
  ]) assert.ok("error" in parsePolicy(bad), bad);
});

test("MX matching (RFC 8461 §4.1): exact names and one-label wildcards", () => {
  const p = ["mail.example.com", "*.example.net"];
  assert.equal(mxMatches("mail.example.com", p), true);
  assert.equal(mxMatches("MAIL.example.com.", p), true);
  assert.equal(mxMatches("mx1.example.net", p), true);
  assert.equal(mxMatches("example.net", p), false, "the wildcard needs a label");
  assert.equal(mxMatches("a.b.example.net", p), false, "only one label");
  assert.equal(mxMatches("other.example.com", p), false);
  assert.equal(mxMatches("xexample.net", p), false);
});

test("policy discovery: TXT then HTTPS, cached by id and max_age, failures mean no policy", async () => {
  let txt: string[][] | Error = [["v=STSv1; id=one"]];
  let body = "version: STSv1\nmode: enforce\nmx: mx.example.org\nmax_age: 60\n";
  const fetched: string[] = [];
  let now = 1_000_000;
  const resolver = {
    resolveTxt: async (name: string) => {
      assert.equal(name, "_mta-sts.example.org");
      if (txt instanceof Error) throw txt;
      return txt;
    },
  } as unknown as DnsResolver;
  const p = new MtaStsPolicies(resolver, async (url) => (fetched.push(url), body), () => now);
  assert.equal((await p.policyFor("Example.org"))?.mode, "enforce");
  assert.deepEqual(fetched, ["https://mta-sts.example.org/.well-known/mta-sts.txt"]);
  await p.policyFor("example.org");
  assert.equal(fetched.length, 1, "same id, within max_age: cached");
  txt = [["v=STSv1; id=two"]];
  body = "version: STSv1\nmode: testing\nmx: mx.example.org\nmax_age: 60\n";
  assert.equal((await p.policyFor("example.org"))?.mode, "testing", "a new id is fetched again");
  assert.equal(fetched.length, 2);
  txt = Object.assign(new Error("timeout"), { code: "ETIMEOUT" });
  assert.equal((await p.policyFor("example.org"))?.mode, "testing", "DNS trouble: the cached policy stays in force");
  now += 61_000;
  assert.equal(await p.policyFor("example.org"), null, "expired and not refreshable: no policy");
  txt = [["v=STSv1; id=three"]];
  body = "garbage";
  assert.equal(await p.policyFor("example.org"), null, "an invalid policy file is no policy");
  txt = [["v=STSv1; id=a"], ["v=STSv1; id=b"]];
  assert.equal(await p.policyFor("example.org"), null, "two records: no policy (§3.1)");
});
