// End to end, `portcullis dns` (issue 7): the records printed for a domain, and `--check`
// comparing them record by record with what a DNS server (dns2 on loopback, configured as
// [outbound] dns_servers) publishes.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { runCli } from "./helpers/cli.js";
import { startDns, type TestDns, type ZoneRecord } from "./fixtures/queue-peers.js";

let srv: TestServer;
let dns: TestDns;
const zone = new Map<string, ZoneRecord[]>();

before(async () => {
  dns = await startDns(zone);
  srv = await startTestServer({ config: { outbound: { dns_servers: [dns.server] } } });
});
after(async () => {
  await srv?.stop();
  await dns?.stop();
});

const cli = (...args: string[]) => runCli([...args, "--config", join(srv.dataDir, "portcullis.toml")]);

/** The zone lines of `portcullis dns` output: name -> [type, value (TXT strings joined)]. */
function parseZone(out: string): Array<{ name: string; type: string; value: string }> {
  return out
    .split("\n")
    .filter((l) => l !== "" && !l.startsWith(";") && / IN /.test(l))
    .map((l) => {
      const m = /^(\S+) \d+ IN (\S+) (.*)$/.exec(l)!;
      const value = m[2] === "TXT" ? [...m[3]!.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((x) => x[1]).join("") : m[3]!;
      return { name: m[1]!.replace(/\.$/, ""), type: m[2]!, value };
    });
}

test("dns prints every record, ready to paste, and the MTA-STS policy file", async () => {
  const r = await cli("dns", "--domain", "example.test", "--ip", "192.0.2.25", "--ip", "2001:db8::25");
  assert.equal(r.code, 0, r.stderr);
  const recs = parseZone(r.stdout);
  const find = (name: string, type: string) => recs.find((x) => x.name === name && x.type === type)?.value;
  assert.equal(find("example.test", "MX"), "10 localhost.");
  assert.equal(find("example.test", "TXT"), "v=spf1 mx ip4:192.0.2.25 ip6:2001:db8::25 -all");
  assert.match(find("portcullis._domainkey.example.test", "TXT") ?? "", /^v=DKIM1; k=rsa; p=MII[A-Za-z0-9+/=]{300,}$/);
  assert.equal(find("_dmarc.example.test", "TXT"), "v=DMARC1; p=quarantine; rua=mailto:dmarc-reports@example.test");
  assert.match(find("_mta-sts.example.test", "TXT") ?? "", /^v=STSv1; id=[0-9a-f]+$/);
  assert.equal(find("_smtp._tls.example.test", "TXT"), "v=TLSRPTv1; rua=mailto:tls-reports@example.test");
  for (const s of ["_submissions", "_submission", "_imaps", "_imap", "_pop3s", "_pop3"]) assert.ok(find(`${s}._tcp.example.test`, "SRV"), s);
  assert.match(r.stdout, /^version: STSv1\nmode: testing\nmx: localhost\nmax_age: 604800$/m);
  assert.equal((await cli("dns", "--domain", "not-ours.test")).code, 1);
  assert.equal((await cli("dns", "--ip", "not-an-ip")).code, 1);
});

test("dns --check says record by record what is missing or different, then that all are published", async () => {
  const printed = parseZone((await cli("dns", "--domain", "example.test")).stdout);
  const add = (name: string, rec: ZoneRecord) => zone.set(name, [...(zone.get(name) ?? []), rec]);
  // Publish some: a correct MX, a wrong SPF, the right DKIM key.
  add("example.test", { type: "MX", exchange: "localhost", priority: 10 });
  add("example.test", { type: "TXT", data: "v=spf1 a ~all" });
  const dkim = printed.find((p) => p.name === "portcullis._domainkey.example.test")!.value;
  add("portcullis._domainkey.example.test", { type: "TXT", data: [dkim.slice(0, 255), dkim.slice(255)] });
  const partial = await cli("dns", "--check", "--domain", "example.test");
  assert.equal(partial.code, 1, partial.stderr);
  assert.match(partial.stdout, /^ok +MX example\.test\.$/m);
  assert.match(partial.stdout, /^different TXT example\.test\.\n +found: +v=spf1 a ~all\n +expected: example\.test\. 3600 IN TXT "v=spf1 mx -all"$/m);
  assert.match(partial.stdout, /^ok +TXT portcullis\._domainkey\.example\.test\.$/m);
  assert.match(partial.stdout, /^missing +TXT _dmarc\.example\.test\.\n +publish: _dmarc\.example\.test\. 3600 IN TXT "v=DMARC1; p=quarantine; rua=mailto:dmarc-reports@example\.test"$/m);
  assert.match(partial.stdout, /^missing +SRV _submissions\._tcp\.example\.test\.$/m);
  assert.match(partial.stdout, /record\(s\) missing or different$/m);

  // Publish everything as printed.
  zone.clear();
  for (const p of printed) {
    const v = p.value.split(" ");
    if (p.type === "MX") add(p.name, { type: "MX", priority: Number(v[0]), exchange: v[1]!.replace(/\.$/, "") });
    else if (p.type === "TXT") add(p.name, { type: "TXT", data: p.value.match(/.{1,255}/g)! });
    else if (p.type === "CNAME") add(p.name, { type: "CNAME", domain: p.value.replace(/\.$/, "") });
    else add(p.name, { type: "SRV", priority: Number(v[0]), weight: Number(v[1]), port: Number(v[2]), target: v[3]!.replace(/\.$/, "") });
  }
  const full = await cli("dns", "--check", "--domain", "example.test");
  assert.equal(full.code, 0, full.stdout + full.stderr);
  assert.doesNotMatch(full.stdout, /^(missing|different)/m);
  assert.match(full.stdout, /^all records are published$/m);
});
