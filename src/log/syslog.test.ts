// Unit tests of the pure parts of remote audit shipping: RFC 5424 formatting, RFC 6587 framing,
// the collector URL.

import { test } from "node:test";
import assert from "node:assert/strict";
import { formatSyslog, frameOctetCounting, parseRemoteUrl } from "./syslog.js";

const o = { hostname: "mx.example.test", appName: "portcullis", procId: "4242", now: () => new Date("2026-11-22T05:00:00.000Z") };
const line = (rec: Record<string, unknown>): string => JSON.stringify(rec) + "\n";

test("formatSyslog: PRI from facility 13 and the level, header fields, BOM, the JSON line as MSG", () => {
  const cases: Array<[string, number]> = [
    ["fatal", 106],
    ["error", 107],
    ["warn", 108],
    ["info", 110],
    ["debug", 111],
    ["trace", 111],
  ];
  for (const [level, pri] of cases) {
    const rec = { level, time: "2026-11-22T05:01:02.345Z", event: "auth.failure", ip: "192.0.2.1" };
    const msg = formatSyslog(line(rec), o)!.toString("utf8");
    assert.equal(msg, `<${pri}>1 2026-11-22T05:01:02.345Z mx.example.test portcullis 4242 auth.failure - \uFEFF${JSON.stringify(rec)}`, level);
  }
});

test("formatSyslog: only audit events; bad JSON and lines without event give null", () => {
  assert.equal(formatSyslog(line({ level: "info", msg: "listening" }), o), null);
  assert.equal(formatSyslog("not json\n", o), null);
  assert.equal(formatSyslog(line({ level: "info", event: 7 }), o), null);
});

test("formatSyslog: header fields are printable ASCII and bounded; a bad timestamp is replaced by now", () => {
  const msg = formatSyslog(line({ level: "info", time: "yesterday", event: "x".repeat(40) }), { ...o, hostname: "mx ex\u00e4mple\n", appName: "" })!.toString("utf8");
  assert.equal(msg.split(" ").slice(0, 7).join(" "), `<110>1 2026-11-22T05:00:00.000Z mx_ex_mple_ - 4242 ${"x".repeat(32)} -`);
});

test("formatSyslog: non-ASCII content stays UTF-8 in MSG", () => {
  const rec = { level: "info", event: "smtp.received", sender: "jürgen@example.test" };
  const buf = formatSyslog(line(rec), o)!;
  assert.ok(buf.toString("utf8").endsWith(`\uFEFF${JSON.stringify(rec)}`));
});

test("frameOctetCounting: MSG-LEN counts octets, not characters (RFC 6587 §3.4.1)", () => {
  const msg = Buffer.from("<110>1 - - - - - - \uFEFFé", "utf8");
  const framed = frameOctetCounting(msg);
  assert.equal(framed.toString("utf8"), `${msg.length} <110>1 - - - - - - \uFEFFé`);
  assert.equal(msg.length, Buffer.byteLength("<110>1 - - - - - - ") + 3 + 2);
});

test("parseRemoteUrl: transports, default ports (RFC 5425 §4.1: 6514), IPv6, refusals", () => {
  assert.deepEqual(parseRemoteUrl("tls://collector.example:6514"), { transport: "tls", host: "collector.example", port: 6514 });
  assert.deepEqual(parseRemoteUrl("tls://collector.example"), { transport: "tls", host: "collector.example", port: 6514 });
  assert.deepEqual(parseRemoteUrl("tcp://10.0.0.5"), { transport: "tcp", host: "10.0.0.5", port: 514 });
  assert.deepEqual(parseRemoteUrl("tcp://[2001:db8::5]:1514/"), { transport: "tcp", host: "2001:db8::5", port: 1514 });
  for (const bad of ["udp://x:514", "tls://", "tls://host:99999", "tls://user@host:1", "http://x", "tls://host:0"]) {
    assert.throws(() => parseRemoteUrl(bad), /log\.remote\.url/, bad);
  }
});

test("configuration: log.remote.url is checked at start-up like every key; tcp:// is reported as insecure", async () => {
  const { configSchema, insecureSettings } = await import("../config/schema.js");
  const parse = (url: string) => configSchema.safeParse({ server: { hostname: "mx.example.test" }, log: { remote: { url } } });
  assert.equal(parse("tls://user@host:6514").success, false);
  assert.equal(parse("udp://host:514").success, false);
  const ok = parse("tcp://collector.example:514");
  assert.ok(ok.success);
  assert.equal(ok.data.log.remote?.queue_size, 10_000);
  assert.equal(ok.data.log.remote?.heartbeat, 60_000);
  assert.ok(insecureSettings(ok.data).includes("log.remote.url: audit events are shipped without TLS"));
  const tls = parse("tls://collector.example");
  assert.ok(tls.success && !insecureSettings(tls.data).some((s) => s.startsWith("log.remote")));
});
