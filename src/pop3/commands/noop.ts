// NOOP (RFC 1939 §5). Also accepted in AUTHORIZATION: harmless, and clients probe with it before TLS.

import { defineCommand } from "./types.js";

export const NOOP = defineCommand({
  name: "NOOP",
  states: ["authorization", "transaction"],
  args: { min: 0, max: 0 },
  usage: "NOOP",
  async run(session) {
    await session.reply("+OK");
  },
});
