// STLS (RFC 2595 §4): upgrade to TLS, in AUTHORIZATION, only on a starttls listener before TLS.
// Anything the client pipelined behind STLS is discarded by the connection (RFC 2595 §3.1
// spirit, threat model §1 "STARTTLS command injection"); if there was any, we say so and close.

import { defineCommand } from "./types.js";
import { Pop3Error } from "../errors.js";

export const STLS = defineCommand({
  name: "STLS",
  states: ["authorization"],
  args: { min: 0, max: 0 },
  usage: "STLS",
  async run(session) {
    const { conn } = session;
    if (conn.secure) throw new Pop3Error("-ERR command not permitted when TLS active");
    if (conn.listener.tls !== "starttls") throw new Pop3Error("-ERR STLS not available on this port");
    await session.reply("+OK begin TLS negotiation");
    const { discarded } = await conn.startTls();
    // RFC 2595 §4: the server forgets anything learnt before TLS; we are back in AUTHORIZATION.
    session.state = { kind: "authorization", user: null };
    // The connection has logged tls.starttls.discarded.
    if (discarded > 0) {
      throw new Pop3Error("-ERR commands sent before the TLS handshake were discarded", true);
    }
  },
});
