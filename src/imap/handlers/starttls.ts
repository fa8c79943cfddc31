// STARTTLS (RFC 9051 §6.2.1): only on a STARTTLS listener before TLS. The tagged OK goes out
// before the handshake; anything the client pipelined after the command is discarded by the
// connection (RFC 9051 §6.2.1: the client must wait), which logs it. After TLS the client must ask
// for CAPABILITY again: nothing learned before TLS is kept.
import { bad } from "../session/errors.js";
import { NOTAUTH, handler } from "./types.js";

export default handler({
  name: "STARTTLS",
  states: NOTAUTH,
  async run(s, cmd) {
    if (s.conn.secure || s.conn.listener.tls !== "starttls") throw bad("TLS is already active or not offered here");
    await s.write(`${cmd.tag} OK Begin TLS negotiation now\r\n`);
    // Input pipelined after STARTTLS was discarded and logged (tls.starttls.discarded) by the
    // connection; those commands get no answer, as RFC 9051 §6.2.1 forbids sending them.
    await s.conn.startTls();
    return { silent: true }; // the tagged response was already sent
  },
});
