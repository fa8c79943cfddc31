// DELE msg (RFC 1939 §5): marks a message as deleted. Nothing leaves the store before QUIT
// moves the session to UPDATE (§6); RSET undoes the marks.

import { defineCommand } from "./types.js";
import { messageArg } from "./message-arg.js";

export const DELE = defineCommand({
  name: "DELE",
  states: ["transaction"],
  args: { min: 1, max: 1 },
  usage: "DELE msg",
  async run(session, state, cmd) {
    const { n, entry } = messageArg(state, cmd.args[0]!);
    entry.deleted = true;
    state.liveCount -= 1;
    state.liveSize -= entry.meta.size;
    await session.reply(`+OK message ${n} deleted`);
  },
});
