import { test } from "node:test";
import assert from "node:assert/strict";
import { buildDsn, headerSection, statusOf, rfc5322Date } from "./dsn.js";

const base = {
  hostname: "mail.example.org",
  to: "alice@example.org",
  queueId: "0123456789abcdef",
  arrivalDate: new Date("2026-03-01T10:00:00Z"),
  now: new Date("2026-03-01T10:05:00Z"),
  originalHeaders: "From: alice@example.org\r\nTo: bob@remote.test\r\nSubject: Hi",
  boundary: "BOUNDARY",
  messageId: "<dsn.test@mail.example.org>",
};

test("failure DSN: multipart/report with the three parts of RFC 3464 / RFC 6522", () => {
  const text = buildDsn({
    ...base,
    kind: "failure",
    recipients: [
      { address: "bob@remote.test", action: "failed", status: "5.1.1", diagnostic: "550 5.1.1 <bob@remote.test>: no such user", remoteMta: "mx.remote.test" },
      { address: "carol@remote.test", action: "failed", status: "5.0.0", diagnostic: null, remoteMta: null },
    ],
  }).toString();
  assert.doesNotMatch(text, /\r(?!\n)|(?<!\r)\n/, "CRLF only");
  const [head, ...rest] = text.split("\r\n\r\n");
  assert.match(head!, /^From: Mail Delivery System <MAILER-DAEMON@mail\.example\.org>$/m);
  assert.match(head!, /^To: <alice@example\.org>$/m);
  assert.match(head!, /^Auto-Submitted: auto-replied$/m);
  assert.match(head!, /^Content-Type: multipart\/report; report-type=delivery-status; boundary="BOUNDARY"$/m);
  assert.ok(rest.length > 0);
  const parts = text.split("--BOUNDARY");
  assert.equal(parts.length, 5);
  assert.match(parts[1]!, /Content-Type: text\/plain/);
  assert.match(parts[1]!, /<bob@remote\.test>: host mx\.remote\.test said: 550 5\.1\.1/);
  const status = parts[2]!;
  assert.match(status, /Content-Type: message\/delivery-status\r\n/);
  // Per-message fields, a blank line, then one block per recipient (RFC 3464 §2.1).
  const blocks = status.split("\r\n\r\n").map((b) => b.trim()).filter((b) => b !== "");
  assert.match(blocks[1]!, /^Reporting-MTA: dns; mail\.example\.org\r\n.*Arrival-Date: Sun, 01 Mar 2026 10:00:00 \+0000$/s);
  assert.equal(
    blocks[2],
    [
      "Final-Recipient: rfc822; bob@remote.test",
      "Action: failed",
      "Status: 5.1.1",
      "Remote-MTA: dns; mx.remote.test",
      "Diagnostic-Code: smtp; 550 5.1.1 <bob@remote.test>: no such user",
      "Last-Attempt-Date: Sun, 01 Mar 2026 10:05:00 +0000",
    ].join("\r\n"),
  );
  assert.match(blocks[3]!, /^Final-Recipient: rfc822; carol@remote\.test\r\nAction: failed\r\nStatus: 5\.0\.0\r\nLast-Attempt-Date/);
  assert.match(parts[3]!, /Content-Type: text\/rfc822-headers\r\n(.*\r\n)*\r\nFrom: alice@example\.org\r\nTo: bob@remote\.test\r\nSubject: Hi\r\n/);
  assert.equal(parts[4], "--\r\n");
});

test("delay DSN: Action delayed and Will-Retry-Until", () => {
  const text = buildDsn({
    ...base,
    kind: "delay",
    willRetryUntil: new Date("2026-03-06T10:00:00Z"),
    recipients: [{ address: "bob@remote.test", action: "delayed", status: "4.4.1", diagnostic: "451 4.4.1 try later", remoteMta: null }],
  }).toString();
  assert.match(text, /^Subject: Delivery Status Notification \(Delay\)$/m);
  assert.match(text, /^Action: delayed\r\nStatus: 4\.4\.1\r\nDiagnostic-Code: smtp; 451 4\.4\.1 try later\r\nLast-Attempt-Date: .*\r\nWill-Retry-Until: Fri, 06 Mar 2026 10:00:00 \+0000$/m);
});

test("hostile values cannot inject header lines", () => {
  const text = buildDsn({
    ...base,
    kind: "failure",
    hostname: "evil\r\nBcc: x@y",
    recipients: [{ address: "a\r\nX-Injected: 1@b", action: "failed", status: "5.0.0", diagnostic: "550 a\r\nX-Injected: 2", remoteMta: "h\nX-Injected: 3" }],
  }).toString();
  assert.doesNotMatch(text, /^(Bcc|X-Injected):/m);
});

test("status codes and the original header section", () => {
  assert.equal(statusOf(550, "5.7.1"), "5.7.1");
  assert.equal(statusOf(550, "4.7.1"), "5.0.0", "class mismatch ignored");
  assert.equal(statusOf(451, null), "4.0.0");
  assert.equal(headerSection(Buffer.from("A: 1\r\nB: 2\r\n\r\nbody")), "A: 1\r\nB: 2");
  assert.equal(headerSection(Buffer.from("A: 1\nB: 2\n\nbody")), "A: 1\r\nB: 2");
  assert.equal(headerSection(Buffer.from("A: 1\r\nB: 2 trunc"), 10), "A: 1", "a truncated header section ends at a whole line");
  assert.equal(rfc5322Date(new Date("2026-11-22T05:07:43Z")), "Sun, 22 Nov 2026 05:07:43 +0000");
});
