// DATA (RFC 5321 §4.1.1.4): the message as dot-stuffed lines up to CRLF "." CRLF, streamed into a
// spool file (spool.ts), then checked and delivered (deliver.ts).
//
// Framing is strict against SMTP smuggling: the terminator is only a "." line that ends in CRLF
// and follows a line that ended in CRLF (or the DATA command itself). "\n.\r\n", ".\n" and
// "\r.\r" are message content — so nothing after them can be read as a new command — and any
// bare LF or CR makes the whole message refused once the real terminator arrives.

import { SMTP_MAX_DATA_LINE } from "../../net/limits.js";
import { InputError } from "../../net/types.js";
import { SmtpError, reply } from "../reply.js";
import { acceptMessage, openSpool } from "../deliver.js";
import { withoutTransaction } from "../state.js";
import type { SmtpCommand } from "./types.js";

const DOT = 0x2e;

export const DATA: SmtpCommand = {
  name: "DATA",
  states: ["mail", "rcpt"],
  async run(s, args, commandLine) {
    if (s.state.kind === "mail") {
      // RFC 2920 §3.1: every RCPT failed; the pipelined DATA gets 554.
      throw new SmtpError(reply(554, "5.5.1", "No valid recipients"));
    }
    if (s.state.kind !== "rcpt") return;
    if (args !== "") throw new SmtpError(reply(501, "5.5.4", "Syntax: DATA"));
    const { tx } = s.state;
    const spool = await openSpool(s, s.state.helo, tx);
    try {
      await s.send(reply(354, null, "End data with <CR><LF>.<CR><LF>"));
      s.applyPhase(true);
      let prevCrlf = commandLine.crlf;
      for (;;) {
        const line = await s.conn.readLine(SMTP_MAX_DATA_LINE);
        if (line === null) throw new InputError("eof", "connection closed in DATA");
        const b = line.bytes;
        // RFC 5321 §4.1.1.4: end of mail data is CRLF "." CRLF.
        if (prevCrlf && line.crlf && b.length === 1 && b[0] === DOT) break;
        // RFC 5321 §4.5.2: a leading dot was doubled by the client.
        await spool.appendLine(b.length > 0 && b[0] === DOT ? b.subarray(1) : b, line.crlf);
        prevCrlf = line.crlf;
      }
      await acceptMessage(s, tx, spool);
    } finally {
      await spool.discard();
      s.setState(withoutTransaction(s.state));
    }
  },
};
