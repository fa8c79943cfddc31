// STAT (RFC 1939 §5): "+OK nn mm", the number and total size of messages not marked deleted.
// O(1): the TRANSACTION state keeps both totals up to date.

import { defineCommand } from "./types.js";

export const STAT = defineCommand({
  name: "STAT",
  states: ["transaction"],
  args: { min: 0, max: 0 },
  usage: "STAT",
  async run(session, state) {
    await session.reply(`+OK ${state.liveCount} ${state.liveSize}`);
  },
});
