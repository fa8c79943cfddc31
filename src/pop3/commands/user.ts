// USER name (RFC 1939 §7). Always "+OK" for a well-formed name, so user names cannot be probed;
// the verdict comes with PASS. Refused before TLS (threat model §1, RFC 2595 §2.4).

import { defineCommand } from "./types.js";
import { Pop3Error, R } from "../errors.js";

export const USER = defineCommand({
  name: "USER",
  states: ["authorization"],
  args: { min: 1, max: 1 },
  usage: "USER name",
  async run(session, state, cmd) {
    if (!session.conn.passwordAuthAllowed) throw new Pop3Error(R.needTls);
    state.user = cmd.args[0]!;
    await session.reply("+OK send PASS");
  },
});
