// The shape of one SMTP command: its verb, the states it may run in (checked once, centrally, in
// session.ts) and its behaviour. Commands throw SmtpError to refuse; they never write a refusal
// themselves.

import type { Line } from "../../net/types.js";
import type { Session } from "../session.js";
import type { StateKind } from "../state.js";

export interface SmtpCommand {
  readonly name: string;
  readonly states: readonly StateKind[];
  /** Longest command line accepted (octets, without CRLF); default SMTP_MAX_COMMAND_LINE. */
  readonly maxLine?: number;
  run(s: Session, args: string, line: Line): Promise<void>;
}
