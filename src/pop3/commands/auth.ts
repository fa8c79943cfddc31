// AUTH (RFC 5034): SASL authentication. "AUTH mech [initial-response]" runs an exchange through
// the auth service: challenges go out as "+ base64", responses come back one line each (up to
// SASL_MAX_RESPONSE_LINE octets, RFC 5034 §4), "*" cancels. "=" is an empty initial response.
// "AUTH" alone lists the mechanisms (the RFC 1734 listing many clients still send).
// Refused before TLS (threat model §1). Credentials are never logged.

import { defineCommand } from "./types.js";
import { Pop3Error, R } from "../errors.js";
import { decodeBase64 } from "../parse.js";
import { SASL_MAX_RESPONSE_LINE } from "../../net/limits.js";
import type { Session } from "../session.js";

export const AUTH = defineCommand({
  name: "AUTH",
  states: ["authorization"],
  args: { min: 0, max: 2 },
  usage: "AUTH mechanism [initial-response]",
  async run(session, state, cmd) {
    if (!session.conn.passwordAuthAllowed) throw new Pop3Error(R.needTls);
    state.user = null;
    const ctx = session.authContext();
    if (cmd.args.length === 0) {
      await session.replyLines("+OK SASL mechanisms follow", session.services.auth.mechanisms(ctx));
      return;
    }
    const mechanism = cmd.args[0]!.toUpperCase();
    let initial: Buffer | null = null;
    if (cmd.args.length === 2) {
      // RFC 5034 §4: "=" is a zero-length initial response.
      initial = cmd.args[1] === "=" ? Buffer.alloc(0) : decodeBase64(cmd.args[1]!);
      // RFC 5034 §4: a response that cannot be base64-decoded rejects the AUTH command.
      if (initial === null) throw new Pop3Error("-ERR invalid base64 in initial response");
    }
    const exchange = session.services.auth.startSasl(mechanism, ctx);
    let step = await exchange.step(initial);
    for (;;) {
      if (step.kind === "failure") throw session.authFailure(step.reason);
      if (step.kind === "success") {
        // RFC 4422 §4 (and RFC 5034 §4): POP3 has no "additional data with success"; the data
        // goes out as a last challenge, and the client must answer with an empty response.
        if (step.data && step.data.length > 0) {
          const answer = await readResponse(session, step.data);
          if (answer.length > 0) throw new Pop3Error("-ERR [AUTH] authentication failed");
        }
        await session.login(step.account);
        return;
      }
      step = await exchange.step(await readResponse(session, step.data));
    }
  },
});

/** Sends one challenge and reads the client's answer (RFC 5034 §4). */
async function readResponse(session: Session, challenge: Buffer): Promise<Buffer> {
  await session.reply(`+ ${challenge.toString("base64")}`);
  const line = await session.readLine(SASL_MAX_RESPONSE_LINE);
  if (line === null) throw new Pop3Error("-ERR authentication cancelled", true);
  const text = line.bytes.toString("latin1");
  // RFC 5034 §4: "*" cancels; the server rejects the AUTH command.
  if (text === "*") throw new Pop3Error("-ERR authentication cancelled");
  const data = text === "=" ? Buffer.alloc(0) : decodeBase64(text);
  if (data === null) throw new Pop3Error("-ERR invalid base64 in response");
  return data;
}
