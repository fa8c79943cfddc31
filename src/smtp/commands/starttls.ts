// STARTTLS (RFC 3207). After "220 2.0.0" the gate runs the handshake and throws away anything
// the client sent behind the command (RFC 3207 §4.2, threat model §1: STARTTLS command
// injection); the session then forgets everything it knew (EHLO, AUTH) and starts over.
// A client that pipelined behind STARTTLS (input already buffered when we read the command) gets
// an error and is disconnected instead of an upgrade.

import { SmtpError, reply } from "../reply.js";
import type { SmtpCommand } from "./types.js";

export const STARTTLS: SmtpCommand = {
  name: "STARTTLS",
  states: ["connected", "ready"],
  async run(s, args) {
    if (s.conn.listener.tls !== "starttls") throw new SmtpError(reply(502, "5.5.1", "STARTTLS not available"));
    if (s.conn.secure) throw new SmtpError(reply(503, "5.5.1", "TLS already active"));
    if (args !== "") throw new SmtpError(reply(501, "5.5.4", "Syntax: STARTTLS"));
    if (s.conn.buffered > 0) {
      s.audit("smtp.protocol.abuse", { reason: "starttls-pipelining", bytes: s.conn.buffered }, "warn");
      throw new SmtpError(reply(554, "5.5.1", "Commands pipelined after STARTTLS, closing connection"), { close: true });
    }
    await s.send(reply(220, "2.0.0", "Ready to start TLS"));
    let discarded: number;
    try {
      ({ discarded } = await s.conn.startTls());
    } catch {
      // The handshake failed (the gate logs tls.failed); there is no channel left to reply on.
      await s.end(null);
      return;
    }
    if (discarded > 0) s.audit("tls.starttls.discarded", { bytes: discarded }, "warn");
    // RFC 3207 §4.2: discard all knowledge obtained from the client.
    s.account = null;
    s.setState({ kind: "connected" });
  },
};
