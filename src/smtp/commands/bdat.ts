// BDAT (RFC 3030 CHUNKING): the message in counted chunks, no dot-stuffing; the last one says
// LAST. Chunks stream into the same spool as DATA and end in the same checks (deliver.ts).
//
// Invariants:
// - A chunk's octets are always consumed, even when the command is refused (RFC 3030 §2: the
//   client sends them without waiting), so the session stays in step. The one exception is a
//   chunk larger than the whole message size limit, or an unreadable size: the connection is
//   closed instead of reading what may be gigabytes.
// - Size and bare CR/LF are checked as chunks arrive; a failing transaction is refused at the
//   chunk that fails it, and later BDATs of it get 503 (their octets are read and dropped).

import { SmtpError, reply } from "../reply.js";
import { AFTER_GREETING, sequenceText, withoutTransaction } from "../state.js";
import { acceptMessage, openSpool } from "../deliver.js";
import type { SmtpCommand } from "./types.js";

export const BDAT: SmtpCommand = {
  name: "BDAT",
  states: AFTER_GREETING,
  async run(s, args) {
    const m = /^(\d{1,15})(?:[ \t]+(LAST))?$/i.exec(args.trim());
    if (!m) throw new SmtpError(reply(501, "5.5.4", "Syntax: BDAT size [LAST]"), { close: true });
    const n = Number(m[1]);
    const last = m[2] !== undefined;
    const max = s.config.limits.max_message_size;
    if (n > max) {
      throw new SmtpError(reply(552, "5.3.4", `Message too big (limit ${max} octets)`), { close: true });
    }
    const st = s.state;
    if (st.kind !== "rcpt" && st.kind !== "bdat") {
      s.applyPhase(true);
      await s.conn.readStream(n, () => undefined);
      s.applyPhase();
      if (st.kind === "mail") throw new SmtpError(reply(554, "5.5.1", "No valid recipients"));
      throw new SmtpError(reply(503, "5.5.1", sequenceText("BDAT", st.kind)));
    }
    let spool;
    try {
      spool = st.kind === "bdat" ? st.spool : await openSpool(s, st.helo, st.tx);
    } catch (e) {
      // Stay in step even when the spool cannot be created: read the chunk, then refuse.
      s.conn.log.error({ event: "session.error", err: e instanceof Error ? e.message : String(e), command: "BDAT" });
      await s.conn.readStream(n, () => undefined);
      s.setState(withoutTransaction(st));
      throw new SmtpError(reply(451, "4.3.0", "Internal error, try again later"));
    }
    const { helo, tx } = st;
    s.setState({ kind: "bdat", helo, tx, spool });
    s.applyPhase(true);
    await s.conn.readStream(n, (chunk) => spool.appendRaw(chunk));
    s.applyPhase();
    if (spool.overLimit) {
      s.setState(withoutTransaction(s.state));
      throw new SmtpError(reply(552, "5.3.4", `Message too big (limit ${max} octets)`), { bad: false });
    }
    if (!last) {
      await s.send(reply(250, "2.0.0", `${n} octets received`));
      return;
    }
    spool.endRaw();
    try {
      await acceptMessage(s, tx, spool);
    } finally {
      s.setState(withoutTransaction(s.state));
    }
  },
};
