// UIDL [msg] (RFC 1939 §7): the unique-id listing. Ids are "uidValidity.uid" (state.ts uidlOf):
// unique per account, stable across sessions, printable ASCII.

import { defineCommand } from "./types.js";
import { messageArg } from "./message-arg.js";
import type { TransactionState } from "../state.js";

export const UIDL = defineCommand({
  name: "UIDL",
  states: ["transaction"],
  args: { min: 0, max: 1 },
  usage: "UIDL [msg]",
  async run(session, state, cmd) {
    if (cmd.args.length === 1) {
      const { n, entry } = messageArg(state, cmd.args[0]!);
      await session.reply(`+OK ${n} ${entry.uidl}`);
      return;
    }
    await session.replyLines("+OK unique-id listing follows", uidListing(state));
  },
});

function* uidListing(state: TransactionState): Generator<string> {
  for (let i = 0; i < state.messages.length; i++) {
    const e = state.messages[i]!;
    if (!e.deleted) yield `${i + 1} ${e.uidl}`;
  }
}
