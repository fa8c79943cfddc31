// RSET (RFC 1939 §5): unmarks every message marked as deleted.

import { defineCommand } from "./types.js";

export const RSET = defineCommand({
  name: "RSET",
  states: ["transaction"],
  args: { min: 0, max: 0 },
  usage: "RSET",
  async run(session, state) {
    let size = 0;
    for (const e of state.messages) {
      e.deleted = false;
      size += e.meta.size;
    }
    state.liveCount = state.messages.length;
    state.liveSize = size;
    await session.reply(`+OK maildrop has ${state.liveCount} messages (${state.liveSize} octets)`);
  },
});
