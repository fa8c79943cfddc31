// End to end: the admin HTTP listener of a real Portcullis, queried with curl (and a raw socket for
// the slow client): health, Prometheus metrics that move with real SMTP/POP3 logins, Thunderbird
// autoconfig, Outlook autodiscover and the Apple profile (parsed by Python's xml.etree and
// plistlib, so they are well-formed), MTA-STS, request limits, and the loopback-only rule.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { connect } from "node:net";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { parseExposition } from "../src/admin/metrics.js";
import { AdminServer } from "../src/admin/http.js";
import { parsePolicy } from "../src/queue/mtasts.js";
import { insecureSettings } from "../src/config/schema.js";

let server: TestServer;
let base: string;

before(async () => {
  server = await startTestServer({ config: { admin: { request_timeout: "2s", mta_sts_mode: "enforce" } } });
  base = `http://127.0.0.1:${server.ports.admin}`;
});
after(async () => {
  await server?.stop();
});

function run(cmd: string, args: string[], input = ""): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    p.on("error", reject);
    p.on("close", (code) => resolve({ code, stdout, stderr }));
    p.stdin.end(input);
  });
}

interface CurlResult {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** curl -i; returns the status, the (lower-cased) headers and the body. */
async function curl(args: string[]): Promise<CurlResult> {
  const r = await run("curl", ["--silent", "--show-error", "--max-time", "20", "-i", ...args]);
  assert.equal(r.code, 0, `curl ${args.join(" ")}: ${r.stderr}`);
  const sep = r.stdout.indexOf("\r\n\r\n");
  const head = r.stdout.slice(0, sep).split("\r\n");
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head[0]!)![1]);
  const headers: Record<string, string> = {};
  for (const h of head.slice(1)) {
    const i = h.indexOf(":");
    headers[h.slice(0, i).toLowerCase()] = h.slice(i + 1).trim();
  }
  return { status, headers, body: r.stdout.slice(sep + 4) };
}

/** Runs a Python snippet with `data` on stdin and parses the JSON it prints. */
async function python(code: string, data: string): Promise<unknown> {
  const r = await run("python3", ["-c", code], data);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

test("GET /healthz: 200 with every listener up and the store answering; HEAD has no body", async () => {
  const r = await curl([`${base}/healthz`]);
  assert.equal(r.status, 200);
  assert.match(r.headers["content-type"]!, /^application\/json/);
  const body = JSON.parse(r.body) as { status: string; store: string; listeners: Record<string, { status: string; port: number }> };
  assert.equal(body.status, "ok");
  assert.equal(body.store, "ok");
  for (const name of ["smtp", "submission", "submissions", "imap", "imaps", "pop3", "pop3s", "admin"]) {
    assert.equal(body.listeners[name]?.status, "up", name);
  }
  assert.equal(body.listeners.pop3s!.port, server.ports.pop3s);
  assert.equal(body.listeners.admin!.port, server.ports.admin);

  const head = await curl(["-I", `${base}/healthz`]);
  assert.equal(head.status, 200);
  assert.equal(head.body, "");
});

test("GET /metrics: exposition format 0.0.4; login and message counters move with real SMTP and POP3 sessions", async () => {
  const address = "metrics@example.test";
  const password = "Tr0ub4dor&3-metrics";
  await server.addUser(address, password);
  const before = parseExposition((await curl([`${base}/metrics`])).body);
  const get = (m: Map<string, number>, k: string): number => m.get(k) ?? 0;

  // Two POP3 logins that succeed, one that fails (over implicit TLS), and one SMTP submission.
  const tlsArgs = ["--silent", "--show-error", "--max-time", "20", "--cacert", server.certFile];
  for (let i = 0; i < 2; i++) {
    const ok = await run("curl", [...tlsArgs, `pop3s://127.0.0.1:${server.ports.pop3s}/`, "-u", `${address}:${password}`]);
    assert.equal(ok.code, 0, ok.stderr);
  }
  const bad = await run("curl", [...tlsArgs, `pop3s://127.0.0.1:${server.ports.pop3s}/`, "-u", `${address}:wrong-password-1`]);
  assert.notEqual(bad.code, 0, "a wrong password is refused");
  const msg = `From: ${address}\r\nTo: ${address}\r\nSubject: metrics\r\nMessage-ID: <m1@example.test>\r\nDate: Sun, 22 Nov 2026 05:00:00 +0000\r\n\r\nhello\r\n`;
  const sent = await run("curl", [...tlsArgs, `smtps://127.0.0.1:${server.ports.submissions}`, "-u", `${address}:${password}`, "--mail-from", address, "--mail-rcpt", address, "-T", "-"], msg);
  assert.equal(sent.code, 0, sent.stderr);

  // conn.close is logged when the server side finishes; wait for the active gauge to settle.
  let after = new Map<string, number>();
  let text = "";
  for (let i = 0; i < 100; i++) {
    const r = await curl([`${base}/metrics`]);
    assert.equal(r.status, 200);
    assert.equal(r.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
    text = r.body;
    after = parseExposition(text);
    if (get(after, 'portcullis_connections_active{protocol="pop3"}') === 0 && get(after, 'portcullis_connections_active{protocol="smtp"}') === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(get(after, 'portcullis_auth_total{protocol="pop3",result="success"}') - get(before, 'portcullis_auth_total{protocol="pop3",result="success"}'), 2);
  assert.equal(get(after, 'portcullis_auth_total{protocol="pop3",result="failure"}') - get(before, 'portcullis_auth_total{protocol="pop3",result="failure"}'), 1);
  assert.equal(get(after, 'portcullis_auth_total{protocol="smtp",result="success"}') - get(before, 'portcullis_auth_total{protocol="smtp",result="success"}'), 1);
  assert.equal(get(after, 'portcullis_connections_total{protocol="pop3"}') - get(before, 'portcullis_connections_total{protocol="pop3"}'), 3);
  assert.equal(get(after, "portcullis_messages_received_total") - get(before, "portcullis_messages_received_total"), 1);
  assert.equal(get(after, 'portcullis_connections_active{protocol="pop3"}'), 0);
  assert.equal(get(after, 'portcullis_audit_events_total{event="auth.failure"}') - get(before, 'portcullis_audit_events_total{event="auth.failure"}'), 1);
  // Gauges read at scrape time and process metrics.
  assert.equal(get(after, "portcullis_bans_active"), 0);
  assert.ok(after.has("portcullis_queue_length"));
  assert.equal(get(after, 'portcullis_listener_up{listener="imaps",protocol="imap"}'), 1);
  assert.ok(get(after, "process_resident_memory_bytes") > 1_000_000);
  assert.ok(get(after, "nodejs_heap_size_used_bytes") > 0);
  assert.ok(get(after, "process_open_fds") > 3);
  assert.ok(after.has('nodejs_eventloop_lag_seconds{quantile="0.99"}'));
  // Every sample belongs to a family declared by HELP and TYPE lines.
  const declared = new Set([...text.matchAll(/^# TYPE (\S+) (counter|gauge)$/gm)].map((m) => m[1]));
  for (const k of after.keys()) assert.ok(declared.has(k.replace(/\{.*$/, "")), `${k} has a # TYPE line`);
});

test("Thunderbird autoconfig: well-formed clientConfig v1.1 pointing at the TLS ports, at both paths", async () => {
  const parse = `import sys, json, xml.etree.ElementTree as E
r = E.fromstring(sys.stdin.read())
p = r.find("emailProvider")
out = {"root": r.tag, "version": r.get("version"), "domain": p.find("domain").text,
       "servers": [[s.tag, s.get("type"), s.find("hostname").text, int(s.find("port").text), s.find("socketType").text, s.find("username").text] for s in p if s.tag in ("incomingServer", "outgoingServer")]}
print(json.dumps(out))`;
  for (const path of ["/mail/config-v1.1.xml", "/.well-known/autoconfig/mail/config-v1.1.xml"]) {
    const r = await curl(["--get", "--data-urlencode", "emailaddress=Alice@Example.TEST", `${base}${path}`]);
    assert.equal(r.status, 200, path);
    assert.match(r.headers["content-type"]!, /^application\/xml/);
    const doc = (await python(parse, r.body)) as { root: string; version: string; domain: string; servers: Array<[string, string, string, number, string, string]> };
    assert.equal(doc.root, "clientConfig");
    assert.equal(doc.version, "1.1");
    assert.equal(doc.domain, "example.test");
    const p = server.ports;
    assert.deepEqual(doc.servers, [
      ["incomingServer", "imap", "localhost", p.imaps, "SSL", "Alice@example.test"],
      ["incomingServer", "imap", "localhost", p.imap, "STARTTLS", "Alice@example.test"],
      ["incomingServer", "pop3", "localhost", p.pop3s, "SSL", "Alice@example.test"],
      ["incomingServer", "pop3", "localhost", p.pop3, "STARTTLS", "Alice@example.test"],
      ["outgoingServer", "smtp", "localhost", p.submissions, "SSL", "Alice@example.test"],
      ["outgoingServer", "smtp", "localhost", p.submission, "STARTTLS", "Alice@example.test"],
    ]);
    assert.ok(!doc.servers.some((s) => s[3] === p.smtp), "the MX port is never offered to clients");
  }
});

test("autoconfig: a foreign domain, a malformed or missing address, markup in the address: 404", async () => {
  for (const q of ["emailaddress=bob@example.org", "emailaddress=<x>@example.test", "emailaddress=a%22b@example.test", "emailaddress=nobody", ""]) {
    const r = await curl([`${base}/mail/config-v1.1.xml?${q}`]);
    assert.equal(r.status, 404, q);
    assert.ok(!r.body.includes("<x>"), "nothing from the request is reflected");
  }
  const apple = await curl(["--get", "--data-urlencode", "email=bob@example.org", `${base}/apple/portcullis.mobileconfig`]);
  assert.equal(apple.status, 404);
});

test("Outlook autodiscover: POST returns POX settings with SSL on; a foreign domain gets 404; GET is 405", async () => {
  const request = (addr: string): string =>
    `<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request><EMailAddress>${addr}</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>`;
  const r = await curl(["-X", "POST", "-H", "Content-Type: text/xml", "--data-binary", request("carol@example.test"), `${base}/Autodiscover/Autodiscover.xml`]);
  assert.equal(r.status, 200);
  const parse = `import sys, json, xml.etree.ElementTree as E
ns = {"a": "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"}
r = E.fromstring(sys.stdin.read())
acc = r.find("a:Response/a:Account", ns)
print(json.dumps([[p.find("a:Type", ns).text, p.find("a:Server", ns).text, int(p.find("a:Port", ns).text), p.find("a:SSL", ns).text, p.find("a:LoginName", ns).text] for p in acc.findall("a:Protocol", ns)]))`;
  const p = server.ports;
  assert.deepEqual(await python(parse, r.body), [
    ["IMAP", "localhost", p.imaps, "on", "carol@example.test"],
    ["POP3", "localhost", p.pop3s, "on", "carol@example.test"],
    ["SMTP", "localhost", p.submissions, "on", "carol@example.test"],
  ]);
  const foreign = await curl(["-X", "POST", "--data-binary", request("carol@example.org"), `${base}/autodiscover/autodiscover.xml`]);
  assert.equal(foreign.status, 404);
  const get = await curl([`${base}/autodiscover/autodiscover.xml`]);
  assert.equal(get.status, 405);
  assert.equal(get.headers.allow, "POST");
  const big = await curl(["-X", "POST", "--data-binary", "x".repeat(20_000), `${base}/autodiscover/autodiscover.xml`]);
  assert.equal(big.status, 413);
});

test("Apple profile: a property list with an IMAP account over SSL and no password", async () => {
  const r = await curl(["--get", "--data-urlencode", "email=dave@example.test", `${base}/apple/portcullis.mobileconfig`]);
  assert.equal(r.status, 200);
  assert.match(r.headers["content-type"]!, /^application\/x-apple-aspen-config/);
  assert.match(r.headers["content-disposition"]!, /^attachment; filename="example\.test\.mobileconfig"$/);
  const parse = `import sys, json, plistlib
print(json.dumps(plistlib.loads(sys.stdin.buffer.read())))`;
  const plist = (await python(parse, r.body)) as { PayloadType: string; PayloadUUID: string; PayloadContent: Array<Record<string, unknown>> };
  assert.equal(plist.PayloadType, "Configuration");
  const acc = plist.PayloadContent[0]!;
  assert.equal(acc.PayloadType, "com.apple.mail.managed");
  assert.equal(acc.EmailAccountType, "EmailTypeIMAP");
  assert.equal(acc.EmailAddress, "dave@example.test");
  assert.equal(acc.IncomingMailServerPortNumber, server.ports.imaps);
  assert.equal(acc.IncomingMailServerUseSSL, true);
  assert.equal(acc.OutgoingMailServerPortNumber, server.ports.submissions);
  assert.equal(acc.OutgoingMailServerUseSSL, true);
  assert.ok(!Object.keys(acc).some((k) => /Password$/.test(k) && k !== "OutgoingPasswordSameAsIncomingPassword"), "no password in the profile");
  // Downloading again gives the same UUIDs, so the device replaces the profile.
  const again = await curl(["--get", "--data-urlencode", "email=dave@example.test", `${base}/apple/portcullis.mobileconfig`]);
  assert.equal(again.body, r.body);
});

test("GET /.well-known/mta-sts.txt: an RFC 8461 policy the outbound MTA-STS parser accepts", async () => {
  const r = await curl([`${base}/.well-known/mta-sts.txt`]);
  assert.equal(r.status, 200);
  assert.match(r.headers["content-type"]!, /^text\/plain/);
  assert.equal(r.body, "version: STSv1\r\nmode: enforce\r\nmx: localhost\r\nmax_age: 604800\r\n");
  const policy = parsePolicy(r.body);
  assert.ok(!("error" in policy), JSON.stringify(policy));
});

test("fixed routes only: unknown paths, traversal attempts and other methods are refused", async () => {
  for (const path of ["/", "/../../etc/passwd", "/healthz/", "/metrics/../healthz", "/.well-known/", "/%2e%2e/etc/passwd", "/__proto__", "/constructor"]) {
    const r = await curl(["--path-as-is", `${base}${path}`]);
    assert.equal(r.status, path === "/metrics/../healthz" ? 200 : 404, path); // URL normalisation: /metrics/../healthz is /healthz
    assert.ok(!r.body.includes("root:"), path);
  }
  const del = await curl(["-X", "DELETE", `${base}/healthz`]);
  assert.equal(del.status, 405);
  assert.equal(del.headers.allow, "GET, HEAD");
  const withBody = await curl(["-X", "GET", "--data-binary", "x", `${base}/healthz`]);
  assert.equal(withBody.status, 413);
});

test("limits: oversized request headers get 431", async () => {
  const r = await curl(["-H", `X-Filler: ${"a".repeat(10_000)}`, `${base}/healthz`]);
  assert.equal(r.status, 431);
});

test("limits: a client that never finishes its request gets 408 and is disconnected", async () => {
  const started = Date.now();
  const reply = await new Promise<string>((resolve, reject) => {
    const s = connect(server.ports.admin, "127.0.0.1");
    let got = "";
    s.on("connect", () => s.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "));
    s.on("data", (d: Buffer) => (got += d.toString()));
    s.on("close", () => resolve(got));
    s.on("error", reject);
    s.setTimeout(15_000, () => reject(new Error("server never closed the slow connection")));
  });
  const elapsed = Date.now() - started;
  assert.match(reply, /^HTTP\/1\.1 408 /);
  assert.ok(elapsed >= 1_900 && elapsed < 10_000, `closed after ${elapsed} ms (request_timeout 2s)`);
});

test("an http listener on a non-loopback address is refused unless admin.allow_public is set", async () => {
  await assert.rejects(
    startTestServer({ config: { listeners: { admin: { addresses: ["0.0.0.0"] } } } }),
    /refusing to bind the admin \(http\) listener to 0\.0\.0\.0: not a loopback address/,
  );
  // With the explicit key, the plan accepts it and the setting is reported as insecure (it is not
  // bound here: tests stay on loopback).
  const cfg = { ...server.config, admin: { ...server.config.admin, allow_public: true }, listeners: { ...server.config.listeners, admin: { ...server.config.listeners.admin!, addresses: ["0.0.0.0"] } } };
  assert.deepEqual(AdminServer.plan(cfg).map((p) => p.addresses), [["0.0.0.0"]]);
  assert.ok(insecureSettings(cfg).some((s) => s.startsWith("admin.allow_public")));
  assert.ok(!insecureSettings(server.config).some((s) => s.startsWith("admin.")));
});

test("tls = \"implicit\": the admin listener serves HTTPS with the server's certificate, TLS 1.2 at least", async () => {
  const s = await startTestServer({ config: { listeners: { admin: { tls: "implicit" } } } });
  try {
    const url = `https://127.0.0.1:${s.ports.admin}/.well-known/mta-sts.txt`;
    const r = await curl(["--cacert", s.certFile, url]);
    assert.equal(r.status, 200);
    assert.match(r.body, /^version: STSv1\r\nmode: testing\r\n/);
    const old = await run("curl", ["--silent", "--max-time", "20", "--cacert", s.certFile, "--tlsv1.0", "--tls-max", "1.1", url]);
    assert.notEqual(old.code, 0, "TLS 1.1 is refused");
    const plain = await run("curl", ["--silent", "--max-time", "20", `http://127.0.0.1:${s.ports.admin}/healthz`]);
    assert.notEqual(plain.code, 0, "no plain HTTP on an implicit-TLS listener");
  } finally {
    await s.stop();
  }
});

test("GET /healthz: 503 with the reason when the store does not answer", async () => {
  const s = await startTestServer();
  try {
    await s.services.store.close();
    const r = await curl([`http://127.0.0.1:${s.ports.admin}/healthz`]);
    assert.equal(r.status, 503);
    const body = JSON.parse(r.body) as { status: string; store: string; listeners: Record<string, { status: string }> };
    assert.equal(body.status, "fail");
    assert.equal(body.store, "error");
    assert.equal(body.listeners.imaps?.status, "up");
  } finally {
    await s.stop().catch(() => undefined);
  }
});
