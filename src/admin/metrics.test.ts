// Unit tests of the metrics registry: counting the audit stream, the exposition writer and its
// escaping, and that client-controlled values cannot create series.

import { test } from "node:test";
import assert from "node:assert/strict";
import { Metrics, parseExposition, renderExposition, escapeLabelValue } from "./metrics.js";

const config = {
  listeners: {
    smtp: { protocol: "smtp", smtp_role: "mx", port: 25, tls: "starttls", proxy_protocol: false, allow_insecure_auth: false, enabled: true },
    pop3s: { protocol: "pop3", port: 995, tls: "implicit", proxy_protocol: false, allow_insecure_auth: false, enabled: true },
  },
} as const;
const ev = (rec: Record<string, unknown>): string => JSON.stringify({ level: "info", ...rec }) + "\n";

test("counts audit events by name, connections and logins by protocol (conn.close via its listener)", async () => {
  const m = new Metrics(config as never);
  try {
    m.observe(ev({ event: "conn.open", protocol: "pop3", listener: "pop3s" }));
    m.observe(ev({ event: "conn.open", protocol: "smtp", listener: "smtp" }));
    m.observe(ev({ event: "auth.success", protocol: "pop3" }));
    m.observe(ev({ event: "auth.failure", protocol: "pop3" }));
    m.observe(ev({ event: "auth.failure", protocol: "pop3" }));
    m.observe(ev({ event: "conn.close", listener: "pop3s" }));
    m.observe(ev({ event: "smtp.received", recipients: 3 }));
    m.observe(ev({ event: "queue.delivered", recipients: ["a@x", "b@x"] }));
    m.observe(ev({ msg: "not an event" }));
    m.observe("garbage {\"event\":\"");
    m.observe(ev({ event: "made.up", protocol: "pop3" }));
    m.observe(ev({ event: "auth.failure", protocol: "evil\"} 1\nx" }));
    const s = parseExposition(await m.render());
    assert.equal(s.get('portcullis_connections_total{protocol="pop3"}'), 1);
    assert.equal(s.get('portcullis_connections_active{protocol="pop3"}'), 0);
    assert.equal(s.get('portcullis_connections_active{protocol="smtp"}'), 1);
    assert.equal(s.get('portcullis_auth_total{protocol="pop3",result="success"}'), 1);
    assert.equal(s.get('portcullis_auth_total{protocol="pop3",result="failure"}'), 2);
    assert.equal(s.get('portcullis_audit_events_total{event="auth.failure"}'), 3);
    assert.equal(s.get("portcullis_messages_received_total"), 1);
    assert.equal(s.get("portcullis_messages_delivered_total"), 2);
    assert.ok(![...s.keys()].some((k) => k.includes("made.up") || k.includes("evil")), "unknown names create no series");
  } finally {
    m.close();
  }
});

test("scrape-time gauges: a failing source is left out, the others are reported", async () => {
  const m = new Metrics(config as never);
  try {
    m.setGauges({
      bansActive: () => 3,
      admitted: () => {
        throw new Error("boom");
      },
      queueLength: () => Promise.reject(new Error("store closed")),
      listenersUp: () => ({ smtp: true, pop3s: false }),
    });
    const s = parseExposition(await m.render());
    assert.equal(s.get("portcullis_bans_active"), 3);
    assert.equal(s.has("portcullis_connections_admitted"), false);
    assert.equal(s.has("portcullis_queue_length"), false);
    assert.equal(s.get('portcullis_listener_up{listener="pop3s",protocol="pop3"}'), 0);
    assert.equal(s.get('portcullis_listener_up{listener="smtp",protocol="smtp"}'), 1);
  } finally {
    m.close();
  }
});

test("renderExposition: HELP/TYPE lines, label and help escaping, special values", () => {
  const text = renderExposition([
    { name: "x_total", help: "a \\ b\nc", type: "counter", samples: [{ labels: { l: 'q"\\\n' }, value: 1 }] },
    { name: "y", help: "y", type: "gauge", samples: [{ labels: {}, value: Infinity }, { labels: { a: "b" }, value: NaN }] },
  ]);
  assert.equal(text, '# HELP x_total a \\\\ b\\nc\n# TYPE x_total counter\nx_total{l="q\\"\\\\\\n"} 1\n# HELP y y\n# TYPE y gauge\ny +Inf\ny{a="b"} NaN\n');
  assert.equal(escapeLabelValue('"'), '\\"');
});
