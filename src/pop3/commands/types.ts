// The shape of one POP3 command: its name, the states it may run in, how many arguments it
// takes, and the handler. The session checks state and arity in one place (session.ts) before
// calling `run`, so a handler receives its state already narrowed to the kinds it declared.

import type { ParsedCommand } from "../parse.js";
import type { Session } from "../session.js";
import type { State, StateKind, StateOf } from "../state.js";

export interface CommandDef<K extends StateKind> {
  readonly name: string;
  readonly states: readonly K[];
  /** Number of space-separated arguments accepted. */
  readonly args: { readonly min: number; readonly max: number };
  /** Shown in the syntax error: "RETR msg". */
  readonly usage: string;
  run(session: Session, state: StateOf<K>, cmd: ParsedCommand): Promise<void>;
}

export interface Command {
  readonly name: string;
  readonly states: readonly StateKind[];
  readonly args: { readonly min: number; readonly max: number };
  readonly usage: string;
  run(session: Session, state: State, cmd: ParsedCommand): Promise<void>;
}

/** Erases the state parameter for the registry. The narrowing cast is sound because the session
 * calls `run` only when `states` includes the current state's kind (Session.dispatch). */
export function defineCommand<K extends StateKind>(def: CommandDef<K>): Command {
  return {
    name: def.name,
    states: def.states,
    args: def.args,
    usage: def.usage,
    run: (session, state, cmd) => def.run(session, state as StateOf<K>, cmd),
  };
}
