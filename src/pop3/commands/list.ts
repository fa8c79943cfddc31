// LIST [msg] (RFC 1939 §5): the scan listing "n size" of one message, or of every message not
// marked deleted. Sizes are the exact stored octet counts (CRLF line ends, RFC 1939 §11).

import { defineCommand } from "./types.js";
import { messageArg } from "./message-arg.js";
import type { TransactionState } from "../state.js";

export const LIST = defineCommand({
  name: "LIST",
  states: ["transaction"],
  args: { min: 0, max: 1 },
  usage: "LIST [msg]",
  async run(session, state, cmd) {
    if (cmd.args.length === 1) {
      const { n, entry } = messageArg(state, cmd.args[0]!);
      await session.reply(`+OK ${n} ${entry.meta.size}`);
      return;
    }
    await session.replyLines(`+OK ${state.liveCount} messages (${state.liveSize} octets)`, scanListing(state));
  },
});

function* scanListing(state: TransactionState): Generator<string> {
  for (let i = 0; i < state.messages.length; i++) {
    const e = state.messages[i]!;
    if (!e.deleted) yield `${i + 1} ${e.meta.size}`;
  }
}
