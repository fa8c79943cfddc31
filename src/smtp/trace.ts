// Trace header fields added to every accepted message (RFC 5321 §4.4): Return-Path: at final
// delivery and one Received: per hop. Pure string building.
//
// Invariants:
// - Nothing the client chose reaches the header unchecked: the EHLO name was validated by
//   parseHeloArg (no CR/LF, parentheses or ";"), addresses come from the parsers, and every line
//   is folded to stay far below the 998-octet limit (RFC 5322 §2.1.1).
// - The protocol keyword follows RFC 3848 (ESMTP, ESMTPS, ESMTPA, ESMTPSA) and RFC 6531 §4.3
//   (UTF8SMTP, UTF8SMTPS, UTF8SMTPA, UTF8SMTPSA).

import { isIPv6 } from "node:net";

export interface ReceivedInfo {
  helo: string;
  esmtp: boolean;
  smtputf8: boolean;
  remoteAddress: string;
  hostname: string;
  id: string;
  tls: { version: string; cipher: string } | null;
  /** Only when config.smtp.received_header_auth_user is on. */
  authUser: string | null;
  authenticated: boolean;
  /** The single recipient, if there is exactly one. */
  recipient: string | null;
  date: Date;
}

/** RFC 3848 / RFC 6531 §4.3 "with" keyword. */
export function withProtocol(o: { esmtp: boolean; smtputf8: boolean; tls: boolean; authenticated: boolean }): string {
  if (!o.esmtp) return "SMTP";
  const base = o.smtputf8 ? "UTF8SMTP" : "ESMTP";
  return base + (o.tls ? "S" : "") + (o.authenticated ? "A" : "");
}

/** RFC 5322 §3.3 date-time, e.g. "Sun, 22 Nov 2026 04:47:24 +0000". */
export function rfc5322Date(d: Date): string {
  const days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
  const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const p = (n: number) => String(n).padStart(2, "0");
  return `${days[d.getUTCDay()]}, ${d.getUTCDate()} ${months[d.getUTCMonth()]} ${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

/** RFC 5321 §4.1.3 address literal for the TCP-info of the From clause. */
function addressLiteral(ip: string): string {
  const bare = ip.startsWith("::ffff:") && ip.includes(".") ? ip.slice(7) : ip;
  return isIPv6(bare) ? `[IPv6:${bare}]` : `[${bare}]`;
}

/** RFC 5321 §4.4 Stamp: "Received:" FWS From-domain FWS By-domain Opt-info ";" FWS date-time. */
export function receivedHeader(r: ReceivedInfo): string {
  const lines: string[] = [];
  // From-domain = "FROM" FWS Extended-Domain; TCP-info in a comment. We do no reverse DNS.
  lines.push(`Received: from ${r.helo} (${addressLiteral(r.remoteAddress)})`);
  lines.push(`\tby ${r.hostname} with ${withProtocol({ esmtp: r.esmtp, smtputf8: r.smtputf8, tls: r.tls !== null, authenticated: r.authenticated })} id ${r.id}`);
  if (r.tls) lines.push(`\t(using ${r.tls.version} with cipher ${r.tls.cipher})`);
  if (r.authUser) lines.push(`\t(authenticated user ${r.authUser})`);
  if (r.recipient) lines.push(`\tfor <${r.recipient}>`);
  lines[lines.length - 1] += ";";
  lines.push(`\t${rfc5322Date(r.date)}`);
  return lines.join("\r\n") + "\r\n";
}

/** RFC 5321 §4.4: "Return-Path:" FWS Reverse-path; the null path is "<>". */
export function returnPathHeader(sender: string): string {
  return `Return-Path: <${sender}>\r\n`;
}
