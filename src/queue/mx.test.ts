import { test } from "node:test";
import assert from "node:assert/strict";
import { orderMx, isNullMx, parseHostPort, parseSmarthost, resolveDestination, addressesOf } from "./mx.js";
import type { DnsResolver } from "./dns.js";

const err = (code: string): Error => Object.assign(new Error(code), { code });

function fakeResolver(zone: Record<string, { mx?: Array<{ exchange: string; priority: number }> | string; a?: string[] | string; aaaa?: string[] | string }>): DnsResolver {
  const get = <T>(name: string, k: "mx" | "a" | "aaaa"): Promise<T> => {
    const z = zone[name];
    if (!z) return Promise.reject(err("ENOTFOUND"));
    const v = z[k];
    if (typeof v === "string") return Promise.reject(err(v));
    return v === undefined ? Promise.reject(err("ENODATA")) : Promise.resolve(v as T);
  };
  return {
    resolveMx: (n) => get(n, "mx"),
    resolve4: (n) => get(n, "a"),
    resolve6: (n) => get(n, "aaaa"),
    resolveTxt: () => Promise.reject(err("ENODATA")),
    resolveCname: () => Promise.reject(err("ENODATA")),
    resolveSrv: () => Promise.reject(err("ENODATA")),
  };
}

test("MX order: ascending preference, equal preferences shuffled, duplicates and trailing dots dropped (RFC 5321 §5.1)", () => {
  const records = [
    { exchange: "c.example.", priority: 20 },
    { exchange: "a.example", priority: 10 },
    { exchange: "b.example", priority: 10 },
    { exchange: "A.example", priority: 30 },
  ];
  assert.deepEqual(orderMx(records, () => 0.99), ["a.example", "b.example", "c.example"]);
  assert.deepEqual(orderMx(records, () => 0), ["b.example", "a.example", "c.example"]);
  const seen = new Set<string>();
  for (let i = 0; i < 50; i++) seen.add(orderMx(records).slice(0, 2).join(","));
  assert.deepEqual([...seen].sort(), ["a.example,b.example", "b.example,a.example"], "both orders of the equal pair occur");
});

test("null MX (RFC 7505)", () => {
  assert.equal(isNullMx([{ exchange: "", priority: 0 }]), true);
  assert.equal(isNullMx([{ exchange: ".", priority: 0 }]), true);
  assert.equal(isNullMx([{ exchange: "mx.example", priority: 0 }]), false);
});

test("host:port and smarthost URLs", () => {
  assert.deepEqual(parseHostPort("127.0.0.1:2525"), { name: "127.0.0.1", port: 2525 });
  assert.deepEqual(parseHostPort("[::1]:25"), { name: "::1", port: 25 });
  assert.deepEqual(parseHostPort("relay.example"), { name: "relay.example", port: 25 });
  for (const bad of ["", "a b:25", "host:0", "host:99999", "host:x", "[::1"]) assert.throws(() => parseHostPort(bad), bad);
  assert.deepEqual(parseSmarthost("smtps://me%40x.org:p%3Ass@relay.example:4650"), {
    hop: { name: "relay.example", port: 4650 },
    implicitTls: true,
    user: "me@x.org",
    password: "p:ss",
  });
  assert.deepEqual(parseSmarthost("smtp://relay.example"), { hop: { name: "relay.example", port: 587 }, implicitTls: false, user: null, password: null });
  assert.equal(parseSmarthost("smtps://relay.example").hop.port, 465);
  assert.throws(() => parseSmarthost("http://relay.example"), /scheme/);
  assert.throws(() => parseSmarthost("not a url"), /not a URL/);
});

test("destinations: routes first, then the smarthost, then MX; DNS errors temporary, NXDOMAIN permanent", async () => {
  const r = fakeResolver({
    "mx.test": { mx: [{ exchange: "mx1.mx.test", priority: 10 }] },
    "nomx.test": {},
    "null.test": { mx: [{ exchange: "", priority: 0 }] },
    "broken.test": { mx: "ESERVFAIL" },
  });
  const c = { routes: { "routed.test": "10.0.0.1:2525" }, mxPort: 25 };
  assert.deepEqual(await resolveDestination("Routed.Test.", r, c), { kind: "route", hops: [{ name: "10.0.0.1", port: 2525 }] });
  assert.deepEqual(await resolveDestination("mx.test", r, c), { kind: "mx", hops: [{ name: "mx1.mx.test", port: 25 }], viaMx: true });
  assert.deepEqual(await resolveDestination("nomx.test", r, c), { kind: "mx", hops: [{ name: "nomx.test", port: 25 }], viaMx: false }, "implicit MX");
  const nul = await resolveDestination("null.test", r, c);
  assert.equal(nul.kind === "fail" && nul.permanent && nul.code === 556 && nul.enhanced, "5.1.10");
  const nx = await resolveDestination("nowhere.test", r, c);
  assert.equal(nx.kind === "fail" && nx.permanent, true);
  const temp = await resolveDestination("broken.test", r, c);
  assert.equal(temp.kind === "fail" && !temp.permanent && temp.code, 451);
  const sh = await resolveDestination("mx.test", r, { ...c, smarthost: "smtp://u:p@relay.example:2587" });
  assert.deepEqual(sh, { kind: "smarthost", hops: [{ name: "relay.example", port: 2587 }], implicitTls: false, user: "u", password: "p" });
  assert.equal((await resolveDestination("routed.test", r, { ...c, smarthost: "smtp://relay.example" })).kind, "route", "routes win over the smarthost");
});

test("host addresses: IP literals as is, A then AAAA, temporary errors thrown", async () => {
  const r = fakeResolver({ "h.test": { a: ["192.0.2.1"], aaaa: ["2001:db8::1"] }, "v6.test": { aaaa: ["2001:db8::2"] }, "bad.test": { a: "ETIMEOUT", aaaa: "ETIMEOUT" } });
  assert.deepEqual(await addressesOf("[2001:db8::9]", r), ["2001:db8::9"]);
  assert.deepEqual(await addressesOf("h.test", r), ["192.0.2.1", "2001:db8::1"]);
  assert.deepEqual(await addressesOf("v6.test", r), ["2001:db8::2"]);
  await assert.rejects(addressesOf("bad.test", r));
});
