// RETR msg (RFC 1939 §5): the whole message, dot-stuffed, streamed from the store.

import { defineCommand } from "./types.js";
import { messageArg } from "./message-arg.js";

export const RETR = defineCommand({
  name: "RETR",
  states: ["transaction"],
  args: { min: 1, max: 1 },
  usage: "RETR msg",
  async run(session, state, cmd) {
    const { entry } = messageArg(state, cmd.args[0]!);
    await session.sendMessage(entry.meta, `+OK ${entry.meta.size} octets`, null);
  },
});
