// EHLO and HELO (RFC 5321 §4.1.1.1): start (or restart) the session and, for EHLO, list the
// extensions. AUTH is listed only on submission listeners and only when password authentication
// is allowed on this connection (TLS is up, or an explicit loopback exception) — threat model §1.

import { parseHeloArg } from "../parse.js";
import { reply } from "../reply.js";
import { AFTER_GREETING } from "../state.js";
import type { Session } from "../session.js";
import type { SmtpCommand } from "./types.js";

export function extensions(s: Session): string[] {
  const ext = [
    "PIPELINING", // RFC 2920
    `SIZE ${s.config.limits.max_message_size}`, // RFC 1870
    "8BITMIME", // RFC 6152
    "SMTPUTF8", // RFC 6531
    "ENHANCEDSTATUSCODES", // RFC 2034
    "CHUNKING", // RFC 3030
  ];
  if (s.conn.listener.tls === "starttls" && !s.conn.secure) ext.push("STARTTLS"); // RFC 3207
  if (s.role === "submission" && s.conn.passwordAuthAllowed && !s.account) {
    const mechs = s.services.auth.mechanisms({
      secure: s.conn.secure,
      passwordAuthAllowed: s.conn.passwordAuthAllowed,
      channelBinding: s.conn.channelBinding ?? null,
    });
    if (mechs.length > 0) ext.push(`AUTH ${mechs.join(" ")}`); // RFC 4954 §3
  }
  return ext;
}

export const EHLO: SmtpCommand = {
  name: "EHLO",
  states: AFTER_GREETING,
  async run(s, args) {
    const name = parseHeloArg(args);
    // RFC 5321 §4.1.4: EHLO in the middle of a transaction aborts it.
    s.setState({ kind: "ready", helo: { name, esmtp: true } });
    await s.send(reply(250, null, `${s.hostname}`, ...extensions(s)));
  },
};

export const HELO: SmtpCommand = {
  name: "HELO",
  states: AFTER_GREETING,
  async run(s, args) {
    const name = parseHeloArg(args);
    s.setState({ kind: "ready", helo: { name, esmtp: false } });
    await s.send(reply(250, null, s.hostname));
  },
};
