// What a command handler is: its name, the states it is allowed in (checked in one place, the
// session's dispatcher), and what it does. Handlers write untagged responses themselves and
// return the tagged completion's code/text (or throw an ImapError for NO/BAD).

import type { CommandName, ParsedCommand } from "../parser.js";
import type { ImapSession } from "../session/session.js";

/** RFC 9051 §3: Not Authenticated, Authenticated, Selected (Logout ends the loop). */
export type SessionState = "notauth" | "auth" | "selected";

export interface Completion {
  code?: string | null;
  text?: string;
  /** The handler already sent its tagged response (STARTTLS, before the handshake). */
  silent?: boolean;
}

export interface Handler<K extends CommandName = CommandName> {
  readonly name: K;
  readonly states: readonly SessionState[];
  run(s: ImapSession, cmd: Extract<ParsedCommand, { name: K }>): Promise<Completion | void>;
}

export const ANY: readonly SessionState[] = ["notauth", "auth", "selected"];
export const AUTHED: readonly SessionState[] = ["auth", "selected"];
export const SELECTED: readonly SessionState[] = ["selected"];
export const NOTAUTH: readonly SessionState[] = ["notauth"];

export function handler<K extends CommandName>(h: Handler<K>): Handler<K> {
  return h;
}
