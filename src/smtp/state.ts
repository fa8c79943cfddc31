// The SMTP session state (RFC 5321 §4.1.4 command ordering) as a discriminated union that carries
// its own data: a transaction cannot exist without the EHLO/HELO that preceded it, and a BDAT
// transfer cannot exist without its transaction and its spool file.
//
// Invariants:
// - "greeting": nothing read yet. "connected": greeted, no EHLO/HELO (also right after STARTTLS,
//   RFC 3207 §4.2). "ready": EHLO/HELO done, no transaction. "mail": MAIL accepted, no recipient
//   yet. "rcpt": at least one recipient accepted. "bdat": BDAT chunks are being received.
// - Authentication is not a state: it is a property of the session that only AUTH sets and only
//   STARTTLS/the end of the connection clear.

import type { MailFrom } from "./parse.js";
import type { Spool } from "./spool.js";

export interface Helo {
  name: string;
  /** EHLO (true) or HELO (false): selects "ESMTP" or "SMTP" in Received: (RFC 3848). */
  esmtp: boolean;
}

export type Recipient =
  | {
      kind: "local";
      /** The address as the client gave it, normalised (lower-case): for Received: "for". */
      address: string;
      /** The accounts it reaches (an alias may reach several). */
      accountIds: number[];
    }
  | { kind: "remote"; address: string; domain: string };

export interface Transaction {
  /** Queue id, shown in the 250 reply, the Received: header and the audit log. */
  id: string;
  /** The reverse-path as text; "" for the null sender "<>". */
  sender: string;
  mail: MailFrom;
  recipients: Recipient[];
}

export type SmtpState =
  | { kind: "greeting" }
  | { kind: "connected" }
  | { kind: "ready"; helo: Helo }
  | { kind: "mail"; helo: Helo; tx: Transaction }
  | { kind: "rcpt"; helo: Helo; tx: Transaction }
  | { kind: "bdat"; helo: Helo; tx: Transaction; spool: Spool };

export type StateKind = SmtpState["kind"];

/** Every state in which commands are read. */
export const AFTER_GREETING: readonly StateKind[] = ["connected", "ready", "mail", "rcpt", "bdat"];

/** The state a transaction ends in (RSET, end of DATA): EHLO is kept (RFC 5321 §4.1.1.5). */
export function withoutTransaction(s: SmtpState): SmtpState {
  switch (s.kind) {
    case "mail":
    case "rcpt":
    case "bdat":
      return { kind: "ready", helo: s.helo };
    default:
      return s;
  }
}

/** Why a command is not allowed in a state, as the 503 text. */
export function sequenceText(verb: string, state: StateKind): string {
  if (state === "connected") return "Send EHLO or HELO first";
  if (state === "bdat") return "BDAT in progress: send BDAT or RSET";
  if (verb === "MAIL") return "Nested MAIL command";
  if (verb === "RCPT" || verb === "DATA") return state === "ready" ? "Send MAIL first" : "Need RCPT first";
  if (verb === "AUTH" || verb === "STARTTLS") return "Not allowed during a mail transaction";
  return "Bad sequence of commands";
}
