// STARTTLS (RFC 9051 §6.2.1): only on a STARTTLS listener before TLS. The tagged OK goes out
// before the handshake; anything the client pipelined after the command is discarded by the
// connection (RFC 9051 §6.2.1: the client must wait) and logged. After TLS the client must ask
// for CAPABILITY again: nothing learned before TLS is kept.
import { audit } from "../../log/audit.js";
import { bad } from "../session/errors.js";
import { NOTAUTH, handler } from "./types.js";

export default handler({
  name: "STARTTLS",
  states: NOTAUTH,
  async run(s, cmd) {
    if (s.conn.secure || s.conn.listener.tls !== "starttls") throw bad("TLS is already active or not offered here");
    await s.write(`${cmd.tag} OK Begin TLS negotiation now\r\n`);
    const { discarded } = await s.conn.startTls();
    if (discarded > 0) {
      audit(s.conn.log, "input.invalid", { protocol: "imap", reason: "input pipelined after STARTTLS discarded", bytes: discarded }, "warn");
    }
    return { silent: true }; // the tagged response was already sent
  },
});
