// PASS string (RFC 1939 §7): verifies USER's password through the auth service (throttle,
// bans and audit events live there) and enters TRANSACTION. The password is everything after
// "PASS " (spaces included, RFC 1939 §7) and is never logged.

import { defineCommand } from "./types.js";
import { Pop3Error, R } from "../errors.js";

export const PASS = defineCommand({
  name: "PASS",
  states: ["authorization"],
  args: { min: 1, max: Number.MAX_SAFE_INTEGER },
  usage: "PASS string",
  async run(session, state, cmd) {
    if (!session.conn.passwordAuthAllowed) throw new Pop3Error(R.needTls);
    const user = state.user;
    // RFC 1939 §7: after a failed PASS the client starts again with USER.
    state.user = null;
    if (user === null) throw new Pop3Error("-ERR send USER first");
    const result = await session.services.auth.verifyPassword(user, cmd.rest, session.authContext());
    if (!result.ok) throw session.authFailure(result.reason);
    await session.login(result.account);
  },
});
