// The DNS lookup built from configuration (resolver.ts) against a dns2 server on 127.0.0.1: the
// answer shapes mailauth expects and the error codes that separate "none" from "temperror".

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import dns2 from "dns2";
import { cachedLookup, createDnsLookup, zoneLookup, type DnsLookup } from "./resolver.js";

let server: ReturnType<typeof dns2.createServer>;
let address = "";

before(async () => {
  const { Packet } = dns2;
  server = dns2.createServer({
    udp: true,
    handle: (request, send) => {
      const response = Packet.createResponseFromRequest(request);
      const q = request.questions[0]!;
      const name = q.name.toLowerCase();
      if (name === "spf.test" && q.type === Packet.TYPE.TXT) {
        // RFC 7208 §3.3: one record split into several character-strings.
        response.answers.push({ name: q.name, type: q.type, class: Packet.CLASS.IN, ttl: 60, data: ["v=spf1 ip4:192.0.2.0/24 ", "-all"] } as never);
        response.answers.push({ name: q.name, type: q.type, class: Packet.CLASS.IN, ttl: 60, data: ["other"] } as never);
      } else if (name === "spf.test" && q.type === Packet.TYPE.A) {
        response.answers.push({ name: q.name, type: q.type, class: Packet.CLASS.IN, ttl: 60, address: "192.0.2.7" } as never);
      } else if (name !== "spf.test") {
        (response.header as { rcode: number }).rcode = 3; // NXDOMAIN
      }
      send(response);
    },
  });
  const a = (await server.listen({ udp: { port: 0, address: "127.0.0.1" } })) as unknown as { udp: { port: number } };
  address = `127.0.0.1:${a.udp.port}`;
});

after(async () => {
  await server?.close();
});

test("TXT as string[][] (character-strings kept apart), A as string[]", async () => {
  const lookup = createDnsLookup([address]);
  const txt = (await lookup("spf.test", "TXT")) as string[][];
  assert.deepEqual(
    txt.map((r) => r.join("")).sort(),
    ["other", "v=spf1 ip4:192.0.2.0/24 -all"],
  );
  assert.ok(txt.some((r) => r.length === 2));
  assert.deepEqual(await lookup("spf.test", "A"), ["192.0.2.7"]);
});

test("NXDOMAIN is ENOTFOUND, no records of the type is ENODATA, an unknown type is not a 'none' answer", async () => {
  const lookup = createDnsLookup([address]);
  await assert.rejects(lookup("missing.test", "TXT"), (e: { code?: string }) => e.code === "ENOTFOUND");
  await assert.rejects(lookup("spf.test", "AAAA"), (e: { code?: string }) => e.code === "ENODATA");
  await assert.rejects(lookup("spf.test", "HINFO"), (e: { code?: string }) => e.code === "ENOTIMP");
});

test("a dead server is a temporary error (not ENOTFOUND/ENODATA)", async () => {
  const lookup = createDnsLookup(["127.0.0.1:9"], { timeoutMs: 200, tries: 1 });
  await assert.rejects(lookup("spf.test", "TXT"), (e: { code?: string }) => e.code !== "ENOTFOUND" && e.code !== "ENODATA");
});

test("zoneLookup: the fake zone used by unit tests follows the same contract", async () => {
  const z = zoneLookup({ "a.test": { TXT: ["v=spf1 -all"], MX: ["10 mx.a.test"] } });
  assert.deepEqual(await z("A.Test.", "TXT"), [["v=spf1 -all"]]);
  assert.deepEqual(await z("a.test", "MX"), [{ priority: 10, exchange: "mx.a.test" }]);
  await assert.rejects(z("a.test", "A"), (e: { code?: string }) => e.code === "ENODATA");
  await assert.rejects(z("b.test", "TXT"), (e: { code?: string }) => e.code === "ENOTFOUND");
});

test("cachedLookup: answers and NXDOMAIN/NODATA kept for the TTL, failures not kept, concurrent queries shared", async () => {
  let t = 0;
  const calls: string[] = [];
  const inner: DnsLookup = async (name, type) => {
    calls.push(`${type} ${name}`);
    await new Promise((r) => setTimeout(r, 5));
    if (name === "nx.example") throw Object.assign(new Error("nx"), { code: "ENOTFOUND" });
    if (name === "down.example") throw Object.assign(new Error("timeout"), { code: "ETIMEOUT" });
    return [["v=spf1 -all"]];
  };
  const c = cachedLookup(inner, { ttlMs: 1000, max: 100, now: () => t });
  const [a, b] = await Promise.all([c("Sender.Example.", "TXT"), c("sender.example", "txt")]);
  assert.deepEqual(a, [["v=spf1 -all"]]);
  assert.deepEqual(b, a);
  assert.equal(calls.length, 1, "one query for two concurrent lookups of the same name and type");
  await c("sender.example", "TXT");
  assert.equal(calls.length, 1, "answered from the cache");
  await c("sender.example", "A");
  assert.equal(calls.length, 2, "another type is another question");
  await assert.rejects(c("nx.example", "TXT"), (e: { code?: string }) => e.code === "ENOTFOUND");
  await assert.rejects(c("nx.example", "TXT"), (e: { code?: string }) => e.code === "ENOTFOUND");
  assert.equal(calls.length, 3, "NXDOMAIN kept (RFC 2308)");
  await assert.rejects(c("down.example", "TXT"), (e: { code?: string }) => e.code === "ETIMEOUT");
  await assert.rejects(c("down.example", "TXT"), (e: { code?: string }) => e.code === "ETIMEOUT");
  assert.equal(calls.length, 5, "a timeout is asked again");
  t += 1001;
  await c("sender.example", "TXT");
  assert.equal(calls.length, 6, "expired after the TTL");
});

test("cachedLookup: bounded, the oldest entry goes first", async () => {
  const calls: string[] = [];
  const c = cachedLookup(async (name) => (calls.push(name), [name]), { ttlMs: 60_000, max: 2 });
  await c("a.example", "A");
  await c("b.example", "A");
  await c("c.example", "A");
  await c("a.example", "A");
  assert.deepEqual(calls, ["a.example", "b.example", "c.example", "a.example"]);
});
