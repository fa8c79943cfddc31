// Delivery status notifications (RFC 3464) for the sender of a queued message: a failure notice
// ("failed") or a delay notice ("delayed"). Pure: builds the message bytes, sends nothing.
//
// Structure (RFC 3464 §2, RFC 6522): multipart/report; report-type=delivery-status with
//   1. text/plain for people,
//   2. message/delivery-status: per-message fields (Reporting-MTA, Arrival-Date), a blank line,
//      then one block per recipient (Final-Recipient, Action, Status, Remote-MTA, Diagnostic-Code,
//      Last-Attempt-Date, Will-Retry-Until),
//   3. text/rfc822-headers: the original message's header section.
// Invariants: the output has CRLF line ends and no bare CR/LF; header values we put in are single
// lines; the notice says Auto-Submitted: auto-replied (RFC 3834 §5) and is sent from "<>" by the
// caller (RFC 3464 §2: DSNs use the null reverse-path), so it can never cause another DSN.

import { randomBytes } from "node:crypto";

export interface DsnRecipient {
  address: string;
  action: "failed" | "delayed";
  /** RFC 3463 status, e.g. "5.1.1". */
  status: string;
  /** The remote reply ("550 5.1.1 No such user"), or our own reason. */
  diagnostic: string | null;
  /** The host that gave the reply, if any. */
  remoteMta: string | null;
}

export interface DsnInput {
  kind: "failure" | "delay";
  /** Our host name (Reporting-MTA, From: mailer-daemon@...). */
  hostname: string;
  /** Who gets the notice: the original envelope sender. */
  to: string;
  queueId: string;
  arrivalDate: Date;
  now: Date;
  /** For delay notices: when we give up. */
  willRetryUntil?: Date;
  recipients: DsnRecipient[];
  /** The original header section (CRLF, without the blank line), possibly truncated. */
  originalHeaders: string;
  /** Fixed in tests. */
  boundary?: string;
  messageId?: string;
}

/** RFC 5322 §3.3 date-time. */
export function rfc5322Date(d: Date): string {
  const days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
  const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const p = (n: number): string => String(n).padStart(2, "0");
  return `${days[d.getUTCDay()]}, ${p(d.getUTCDate())} ${months[d.getUTCMonth()]} ${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

/** RFC 3463 status for a reply: its enhanced code, else one derived from the basic code. */
export function statusOf(code: number, enhanced: string | null): string {
  if (enhanced && /^[245]\.\d{1,3}\.\d{1,3}$/.test(enhanced) && enhanced[0] === String(code)[0]) return enhanced;
  return code >= 500 ? "5.0.0" : code >= 400 ? "4.0.0" : "2.0.0";
}

/** One line, printable, bounded: for values put into header fields. */
const oneLine = (s: string, max = 900): string => s.replace(/[\r\n\0\t]+/g, " ").replace(/[^\x20-\x7e]/g, "?").slice(0, max);

/** An address as an RFC 3464 §2.3.2 "rfc822" address (8-bit ones as utf-8 type, RFC 6533 §3). */
function addressType(a: string): string {
  return /[^\x20-\x7e]/.test(a) ? `utf-8; ${oneLine(a.replace(/[^\x20-\x7e]/g, (c) => `\\x{${c.codePointAt(0)!.toString(16).toUpperCase()}}`))}` : `rfc822; ${oneLine(a)}`;
}

/** The header section of a message in wire form (up to the first empty line), at most `max` bytes. */
export function headerSection(message: Buffer, max = 64 * 1024): string {
  const slice = message.subarray(0, max);
  let end = slice.indexOf("\r\n\r\n");
  let text: string;
  if (end >= 0) text = slice.subarray(0, end).toString("utf8");
  else {
    end = slice.indexOf("\n\n");
    text = (end >= 0 ? slice.subarray(0, end) : slice).toString("utf8");
    if (end < 0) text = text.slice(0, text.lastIndexOf("\n") > 0 ? text.lastIndexOf("\n") : text.length); // cut a partial line
  }
  // Normalise line ends so that the notice has no bare CR or LF (RFC 5322 §2.3).
  return text.replace(/\r?\n/g, "\r\n").replace(/\r(?!\n)/g, "");
}

export function buildDsn(d: DsnInput): Buffer {
  const boundary = d.boundary ?? `=_dsn_${randomBytes(12).toString("hex")}`;
  const messageId = d.messageId ?? `<dsn.${d.queueId}.${randomBytes(6).toString("hex")}@${oneLine(d.hostname)}>`;
  const failed = d.kind === "failure";
  const subject = failed ? "Undelivered Mail Returned to Sender" : "Delivery Status Notification (Delay)";
  const human = [
    `This is the mail system at host ${oneLine(d.hostname)}.`,
    "",
    failed
      ? "I'm sorry to have to inform you that your message could not be delivered to one or more recipients. The reasons are given below."
      : "Your message could not be delivered yet to one or more recipients. The mail system will keep trying; you do not need to send it again.",
    ...(d.willRetryUntil && !failed ? ["", `It will keep trying until ${rfc5322Date(d.willRetryUntil)}.`] : []),
    "",
    ...d.recipients.map((r) => `<${oneLine(r.address)}>: ${r.remoteMta ? `host ${oneLine(r.remoteMta)} said: ` : ""}${oneLine(r.diagnostic ?? r.status)}`),
    "",
  ];
  // RFC 3464 §2.2: per-message fields.
  const perMessage = [`Reporting-MTA: dns; ${oneLine(d.hostname)}`, `X-Portcullis-Queue-ID: ${oneLine(d.queueId)}`, `Arrival-Date: ${rfc5322Date(d.arrivalDate)}`];
  // RFC 3464 §2.3: per-recipient fields, each block preceded by a blank line.
  const perRecipient = d.recipients.map((r) =>
    [
      `Final-Recipient: ${addressType(r.address)}`,
      `Action: ${r.action}`,
      `Status: ${r.status}`,
      ...(r.remoteMta ? [`Remote-MTA: dns; ${oneLine(r.remoteMta)}`] : []),
      ...(r.diagnostic ? [`Diagnostic-Code: smtp; ${oneLine(r.diagnostic)}`] : []),
      `Last-Attempt-Date: ${rfc5322Date(d.now)}`,
      ...(r.action === "delayed" && d.willRetryUntil ? [`Will-Retry-Until: ${rfc5322Date(d.willRetryUntil)}`] : []),
    ].join("\r\n"),
  );
  const parts = [
    `From: Mail Delivery System <MAILER-DAEMON@${oneLine(d.hostname)}>`,
    `To: <${oneLine(d.to)}>`,
    `Subject: ${subject}`,
    `Date: ${rfc5322Date(d.now)}`,
    `Message-ID: ${messageId}`,
    "Auto-Submitted: auto-replied", // RFC 3834 §5
    "MIME-Version: 1.0",
    `Content-Type: multipart/report; report-type=delivery-status; boundary="${boundary}"`, // RFC 6522 §3
    "",
    "This is a MIME-encapsulated message.",
    "",
    `--${boundary}`,
    "Content-Type: text/plain; charset=us-ascii",
    "Content-Description: Notification",
    "",
    ...human,
    `--${boundary}`,
    "Content-Type: message/delivery-status",
    "Content-Description: Delivery report",
    "",
    perMessage.join("\r\n"),
    "",
    perRecipient.join("\r\n\r\n"),
    "",
    `--${boundary}`,
    "Content-Type: text/rfc822-headers",
    "Content-Description: Undelivered message headers",
    "",
    d.originalHeaders,
    "",
    `--${boundary}--`,
    "",
  ];
  return Buffer.from(parts.join("\r\n"), "utf8");
}
