// AUTHENTICATE (RFC 9051 §6.2.2) with SASL-IR (RFC 4959): the SASL steps run in the shared
// AuthService; this file only translates them to "+ base64" continuations. "*" cancels (BAD).
// Additional data with success (SCRAM server-final) goes as a last "+" challenge whose empty
// answer completes the exchange (RFC 9051 §6.2.2).
import { SASL_MAX_RESPONSE_LINE } from "../../net/limits.js";
import { bad } from "../session/errors.js";
import { authFailure } from "./authfail.js";
import { NOTAUTH, handler } from "./types.js";

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function decode(s: string): Buffer | null {
  if (s === "=") return Buffer.alloc(0); // RFC 4959 §3: empty initial response
  if (!BASE64.test(s) || s.length % 4 !== 0) return null;
  return Buffer.from(s, "base64");
}

export default handler({
  name: "AUTHENTICATE",
  states: NOTAUTH,
  async run(s, cmd) {
    const ex = s.services.auth.startSasl(cmd.args.mechanism, s.authContext());
    let input: Buffer | null = null;
    if (cmd.args.initialResponse !== null) {
      input = decode(cmd.args.initialResponse);
      if (input === null) throw bad("Invalid base64 in initial response");
    }
    const readResponse = async (): Promise<Buffer> => {
      const line = await s.conn.readLine(SASL_MAX_RESPONSE_LINE);
      if (line === null) throw bad("Connection closed during authentication");
      const text = line.bytes.toString("latin1").trim();
      if (text === "*") throw bad("Authentication cancelled"); // RFC 9051 §6.2.2
      const b = decode(text === "" ? "=" : text);
      if (b === null) throw bad("Invalid base64 in SASL response");
      return b;
    };
    for (let steps = 0; steps < 16; steps++) {
      const step = await ex.step(input);
      if (step.kind === "failure") throw authFailure(step.reason);
      if (step.kind === "success") {
        if (step.data && step.data.length > 0) {
          await s.write(`+ ${step.data.toString("base64")}\r\n`);
          await readResponse();
        }
        await s.login(step.account);
        return { code: `CAPABILITY ${s.capabilities().join(" ")}`, text: "Authenticated" };
      }
      await s.write(`+ ${step.data.toString("base64")}\r\n`);
      input = await readResponse();
    }
    throw bad("Too many SASL steps");
  },
});
