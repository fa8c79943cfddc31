// TOP msg n (RFC 1939 §7): the header, the blank line, then the first n lines of the body.

import { defineCommand } from "./types.js";
import { messageArg } from "./message-arg.js";
import { parseLineCount } from "../parse.js";
import { Pop3Error } from "../errors.js";

export const TOP = defineCommand({
  name: "TOP",
  states: ["transaction"],
  args: { min: 2, max: 2 },
  usage: "TOP msg n",
  async run(session, state, cmd) {
    const { entry } = messageArg(state, cmd.args[0]!);
    const lines = parseLineCount(cmd.args[1]!);
    if (lines === null) throw new Pop3Error("-ERR invalid line count");
    await session.sendMessage(entry.meta, "+OK top of message follows", lines);
  },
});
