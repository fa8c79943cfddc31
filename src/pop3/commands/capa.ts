// CAPA (RFC 2449 §5): the capabilities in the current state. STLS only on a starttls listener
// before TLS (RFC 2595 §4); USER and SASL only when password authentication is allowed on this
// connection (RFC 2595 §6: don't advertise what will be refused). APOP is never offered.

import { defineCommand } from "./types.js";
import type { Session } from "../session.js";

export const CAPA = defineCommand({
  name: "CAPA",
  states: ["authorization", "transaction"],
  args: { min: 0, max: 0 },
  usage: "CAPA",
  async run(session, state) {
    await session.replyLines("+OK capability list follows", capabilities(session, state.kind === "authorization"));
  },
});

export function capabilities(session: Session, authorization: boolean): string[] {
  const { conn } = session;
  const caps: string[] = [];
  if (authorization) {
    if (conn.listener.tls === "starttls" && !conn.secure) caps.push("STLS"); // RFC 2595 §4
    if (conn.passwordAuthAllowed) {
      caps.push("USER"); // RFC 2449 §6.8
      const mechs = session.services.auth.mechanisms(session.authContext());
      if (mechs.length > 0) caps.push(`SASL ${mechs.join(" ")}`); // RFC 5034 §5
    }
  }
  caps.push(
    "TOP", // RFC 2449 §6.1
    "UIDL", // RFC 2449 §6.2
    "RESP-CODES", // RFC 2449 §6.4
    "AUTH-RESP-CODE", // RFC 3206 §4
    "PIPELINING", // RFC 2449 §6.6
    "EXPIRE NEVER", // RFC 2449 §6.7: the server never deletes mail on its own
    "IMPLEMENTATION Portcullis", // RFC 2449 §6.9
  );
  return caps;
}
