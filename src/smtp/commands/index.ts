// The static command table: verb -> command. No lookup by building strings; an absent verb is
// "500 5.5.1 command not recognized" in session.ts.

import type { SmtpCommand } from "./types.js";
import { EHLO, HELO } from "./ehlo.js";
import { MAIL } from "./mail.js";
import { RCPT } from "./rcpt.js";
import { DATA } from "./data.js";
import { BDAT } from "./bdat.js";
import { RSET, NOOP, QUIT, HELP, VRFY, EXPN } from "./simple.js";
import { STARTTLS } from "./starttls.js";
import { AUTH } from "./auth.js";

export const COMMANDS: ReadonlyMap<string, SmtpCommand> = new Map(
  [EHLO, HELO, MAIL, RCPT, DATA, BDAT, RSET, NOOP, QUIT, HELP, VRFY, EXPN, STARTTLS, AUTH].map((c) => [c.name, c]),
);
