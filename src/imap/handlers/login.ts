// LOGIN (RFC 9051 §6.2.3): refused without TLS (LOGINDISABLED) unless the listener allows
// insecure auth on loopback; otherwise the shared AuthService decides (throttle, bans, logging).
import { no } from "../session/errors.js";
import { authFailure } from "./authfail.js";
import { NOTAUTH, handler } from "./types.js";

export default handler({
  name: "LOGIN",
  states: NOTAUTH,
  async run(s, cmd) {
    if (!s.conn.passwordAuthAllowed) throw no("LOGIN is disabled until TLS is active (use STARTTLS)", "PRIVACYREQUIRED");
    const r = await s.services.auth.verifyPassword(cmd.args.username, cmd.args.password, s.authContext());
    if (!r.ok) throw authFailure(r.reason);
    await s.login(r.account);
    return { code: `CAPABILITY ${s.capabilities().join(" ")}`, text: "Logged in" };
  },
});
