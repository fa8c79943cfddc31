// Client autoconfiguration documents and the MTA-STS policy (threat model §1: "clients configured
// wrongly"): Thunderbird autoconfig (clientConfig v1.1), Outlook autodiscover (POX), an Apple
// configuration profile, and the RFC 8461 policy file. All pure: no I/O; the HTTP layer
// (src/admin/http.ts) decides whether the address is ours and passes the endpoints in.
//
// Invariants:
// - Every client-facing endpoint is a TLS one: implicit TLS first (RFC 8314 §5.1), STARTTLS only
//   as a second choice where the format can express one; never a plain-text endpoint.
// - Everything that came from the request (the address) is XML-escaped on the way out, and the
//   address is validated (parseMailAddress) before any document is built.
// - The autodiscover request is not parsed as XML (no DTDs, no entities, so no XXE): one element
//   is extracted with a bounded regular expression.
// - No document carries a password.

import { createHash } from "node:crypto";

/** Escapes text for XML character data and attribute values. */
export function xmlEscape(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" })[c]!);
}

const LOCAL_ATOM = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const DOMAIN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** A plain `local@domain` address (dot-atom local part, RFC 5322 §3.4.1; LDH domain). Quoted local
 * parts, IP literals and anything else unusual are refused: a client being configured has a
 * mailbox address, not an exotic one. Returns the address with the domain lower-cased, or null. */
export function parseMailAddress(raw: string): { address: string; local: string; domain: string } | null {
  if (raw.length > 254) return null; // RFC 5321 §4.5.3.1.3 (path 256 minus the brackets)
  const at = raw.lastIndexOf("@");
  if (at <= 0 || at === raw.length - 1) return null;
  const local = raw.slice(0, at);
  const domain = raw.slice(at + 1).toLowerCase();
  if (local.length > 64 || !LOCAL_ATOM.test(local)) return null; // RFC 5321 §4.5.3.1.1
  if (!DOMAIN.test(domain)) return null;
  return { address: `${local}@${domain}`, local, domain };
}

/** Where clients should connect. Ports are null when no such listener is enabled. */
export interface ClientEndpoints {
  hostname: string;
  imaps: number | null;
  imapStarttls: number | null;
  pop3s: number | null;
  pop3Starttls: number | null;
  submissions: number | null;
  submissionStarttls: number | null;
}

/** Thunderbird autoconfig, clientConfig version 1.1. */
export function thunderbirdConfig(address: string, domain: string, e: ClientEndpoints): string {
  const h = xmlEscape(e.hostname);
  const user = xmlEscape(address);
  const server = (tag: "incomingServer" | "outgoingServer", type: string, port: number | null, socket: "SSL" | "STARTTLS"): string[] =>
    port === null
      ? []
      : [
          `    <${tag} type="${type}">`,
          `      <hostname>${h}</hostname>`,
          `      <port>${port}</port>`,
          `      <socketType>${socket}</socketType>`,
          // Over TLS only; the server also offers SCRAM, which the format cannot name.
          `      <authentication>password-cleartext</authentication>`,
          `      <username>${user}</username>`,
          `    </${tag}>`,
        ];
  const d = xmlEscape(domain);
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<clientConfig version="1.1">`,
    `  <emailProvider id="${d}">`,
    `    <domain>${d}</domain>`,
    `    <displayName>${d} mail</displayName>`,
    `    <displayShortName>${d}</displayShortName>`,
    // Implicit TLS first (RFC 8314 §5.1), then STARTTLS for networks that block 993/995/465.
    ...server("incomingServer", "imap", e.imaps, "SSL"),
    ...server("incomingServer", "imap", e.imapStarttls, "STARTTLS"),
    ...server("incomingServer", "pop3", e.pop3s, "SSL"),
    ...server("incomingServer", "pop3", e.pop3Starttls, "STARTTLS"),
    ...server("outgoingServer", "smtp", e.submissions, "SSL"),
    ...server("outgoingServer", "smtp", e.submissionStarttls, "STARTTLS"),
    `  </emailProvider>`,
    `</clientConfig>`,
    ``,
  ].join("\n");
}

/** The EMailAddress of an Outlook autodiscover request (POX), or null. Not an XML parser on
 * purpose: the element is plain text in every real request. */
export function autodiscoverRequestAddress(body: string): string | null {
  const m = /<EMailAddress>\s*([^<\s]{1,254})\s*<\/EMailAddress>/i.exec(body);
  return m ? m[1]! : null;
}

/** Outlook autodiscover POX response (responseschema 2006a) with IMAP, POP3 and SMTP over TLS. */
export function autodiscoverResponse(address: string, e: ClientEndpoints): string {
  const h = xmlEscape(e.hostname);
  const user = xmlEscape(address);
  const proto = (type: string, port: number | null): string[] =>
    port === null
      ? []
      : [
          `      <Protocol>`,
          `        <Type>${type}</Type>`,
          `        <Server>${h}</Server>`,
          `        <Port>${port}</Port>`,
          `        <DomainRequired>off</DomainRequired>`,
          `        <LoginName>${user}</LoginName>`,
          `        <SPA>off</SPA>`,
          `        <SSL>on</SSL>`,
          `        <Encryption>SSL</Encryption>`,
          `        <AuthRequired>on</AuthRequired>`,
          `      </Protocol>`,
        ];
  return [
    `<?xml version="1.0" encoding="utf-8"?>`,
    `<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">`,
    `  <Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a">`,
    `    <Account>`,
    `      <AccountType>email</AccountType>`,
    `      <Action>settings</Action>`,
    ...proto("IMAP", e.imaps),
    ...proto("POP3", e.pop3s),
    ...proto("SMTP", e.submissions),
    `    </Account>`,
    `  </Response>`,
    `</Autodiscover>`,
    ``,
  ].join("\n");
}

/** A stable UUID derived from its inputs, so that downloading the profile again replaces the
 * installed one instead of adding a second account. */
function stableUuid(...parts: string[]): string {
  const h = createHash("sha256").update(parts.join("\0")).digest("hex");
  // Version 5-style layout (name-based); the variant bits are set as RFC 9562 §4.1 asks.
  const variant = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`.toUpperCase();
}

/** An Apple configuration profile (.mobileconfig, an XML property list) with one IMAP account
 * payload (com.apple.mail.managed) over implicit TLS. No password: the device asks for it. */
export function appleProfile(address: string, e: ClientEndpoints): string | null {
  if (e.imaps === null || e.submissions === null) return null; // the payload has no STARTTLS choice
  const s = (v: string): string => `<string>${xmlEscape(v)}</string>`;
  const reverse = e.hostname.split(".").reverse().join(".");
  const accountUuid = stableUuid("account", e.hostname, address);
  const profileUuid = stableUuid("profile", e.hostname, address);
  const kv = (k: string, v: string): string => `      <key>${k}</key>${v}`;
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">`,
    `<plist version="1.0">`,
    `<dict>`,
    `  <key>PayloadContent</key>`,
    `  <array>`,
    `    <dict>`,
    kv("EmailAccountDescription", s(address)),
    kv("EmailAccountType", s("EmailTypeIMAP")),
    kv("EmailAddress", s(address)),
    kv("IncomingMailServerAuthentication", s("EmailAuthPassword")),
    kv("IncomingMailServerHostName", s(e.hostname)),
    kv("IncomingMailServerPortNumber", `<integer>${e.imaps}</integer>`),
    kv("IncomingMailServerUseSSL", "<true/>"),
    kv("IncomingMailServerUsername", s(address)),
    kv("OutgoingMailServerAuthentication", s("EmailAuthPassword")),
    kv("OutgoingMailServerHostName", s(e.hostname)),
    kv("OutgoingMailServerPortNumber", `<integer>${e.submissions}</integer>`),
    kv("OutgoingMailServerUseSSL", "<true/>"),
    kv("OutgoingMailServerUsername", s(address)),
    kv("OutgoingPasswordSameAsIncomingPassword", "<true/>"),
    kv("PayloadDescription", s(`Mail account ${address}`)),
    kv("PayloadDisplayName", s(address)),
    kv("PayloadIdentifier", s(`${reverse}.portcullis.mail.${accountUuid}`)),
    kv("PayloadType", s("com.apple.mail.managed")),
    kv("PayloadUUID", s(accountUuid)),
    kv("PayloadVersion", "<integer>1</integer>"),
    `    </dict>`,
    `  </array>`,
    `  <key>PayloadDisplayName</key>${s(`Mail (${e.hostname})`)}`,
    `  <key>PayloadIdentifier</key>${s(`${reverse}.portcullis.${profileUuid}`)}`,
    `  <key>PayloadRemovalDisallowed</key><false/>`,
    `  <key>PayloadType</key>${s("Configuration")}`,
    `  <key>PayloadUUID</key>${s(profileUuid)}`,
    `  <key>PayloadVersion</key><integer>1</integer>`,
    `</dict>`,
    `</plist>`,
    ``,
  ].join("\n");
}

/** The MTA-STS policy file (RFC 8461 §3.2): CRLF-separated key/value pairs. */
export function mtaStsPolicy(o: { mode: "testing" | "enforce" | "none"; mx: readonly string[]; maxAgeSeconds: number }): string {
  const lines = ["version: STSv1", `mode: ${o.mode}`, ...o.mx.map((m) => `mx: ${m}`), `max_age: ${o.maxAgeSeconds}`];
  return lines.join("\r\n") + "\r\n"; // RFC 8461 §3.2 "CRLF-separated"
}
