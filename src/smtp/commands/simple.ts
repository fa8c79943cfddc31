// The commands with no state of their own: RSET, NOOP, QUIT, HELP, VRFY, EXPN (RFC 5321 §4.1.1).

import { AFTER_GREETING, withoutTransaction } from "../state.js";
import { SmtpError, reply } from "../reply.js";
import type { SmtpCommand } from "./types.js";

/** RFC 5321 §4.1.1.5: aborts the transaction, keeps EHLO. */
export const RSET: SmtpCommand = {
  name: "RSET",
  states: AFTER_GREETING,
  async run(s, args) {
    if (args !== "") throw new SmtpError(reply(501, "5.5.4", "Syntax: RSET"));
    s.setState(withoutTransaction(s.state));
    await s.send(reply(250, "2.0.0", "Ok"));
  },
};

/** RFC 5321 §4.1.1.9 (an argument is allowed and ignored). */
export const NOOP: SmtpCommand = {
  name: "NOOP",
  states: AFTER_GREETING,
  async run(s) {
    await s.send(reply(250, "2.0.0", "Ok"));
  },
};

/** RFC 5321 §4.1.1.10. */
export const QUIT: SmtpCommand = {
  name: "QUIT",
  states: AFTER_GREETING,
  async run(s) {
    await s.end(reply(221, "2.0.0", `${s.hostname} Bye`));
  },
};

/** RFC 5321 §4.1.1.8. */
export const HELP: SmtpCommand = {
  name: "HELP",
  states: AFTER_GREETING,
  async run(s) {
    await s.send(
      reply(214, "2.0.0", "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT HELP VRFY STARTTLS AUTH", "See RFC 5321"),
    );
  },
};

/** RFC 5321 §3.5.3: 252 without saying whether the user exists (no address harvesting). */
export const VRFY: SmtpCommand = {
  name: "VRFY",
  states: AFTER_GREETING,
  async run(s, args) {
    if (args.trim() === "") throw new SmtpError(reply(501, "5.5.4", "Syntax: VRFY address"));
    await s.send(reply(252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery"));
  },
};

/** RFC 5321 §3.5.2 allows disabling EXPN; we do (it would list alias members). */
export const EXPN: SmtpCommand = {
  name: "EXPN",
  states: AFTER_GREETING,
  async run() {
    throw new SmtpError(reply(502, "5.5.1", "EXPN not available"));
  },
};
