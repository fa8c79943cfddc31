// AUTH (RFC 4954) on submission listeners only: a SASL exchange driven by the AuthService
// (which throttles, verifies and logs auth.success / auth.failure); this file only speaks the
// wire syntax: "AUTH mech [initial-response]", "334 base64" challenges, "*" to cancel.
//
// Invariants:
// - Never on MX listeners, never without passwordAuthAllowed (TLS or the loopback exception),
//   never twice, never inside a transaction (RFC 4954 §4).
// - Nothing the client sends here is logged (it may be a password).

import { SMTP_MAX_AUTH_LINE } from "../../net/limits.js";
import { InputError } from "../../net/types.js";
import type { AuthFailureReason, SaslStep } from "../../auth/types.js";
import { SmtpError, reply, type Reply } from "../reply.js";
import type { Session } from "../session.js";
import type { SmtpCommand } from "./types.js";

/** Strict base64 (RFC 4648 §4), as RFC 4954 §4 requires; "=" alone is an empty response. */
export function decodeBase64(s: string): Buffer | null {
  if (s === "=") return Buffer.alloc(0);
  if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return null;
  return Buffer.from(s, "base64");
}

function failureReply(reason: AuthFailureReason): { r: Reply; close: boolean } {
  switch (reason) {
    case "invalid-credentials":
      return { r: reply(535, "5.7.8", "Authentication credentials invalid"), close: false };
    case "malformed":
      return { r: reply(501, "5.5.2", "Malformed authentication data"), close: false };
    case "aborted":
      return { r: reply(501, "5.7.0", "Authentication cancelled"), close: false };
    case "throttled":
      return { r: reply(454, "4.7.0", "Too many failed logins, try again later"), close: false };
    case "banned":
      return { r: reply(421, "4.7.0", "Too many failed logins, closing connection"), close: true };
    case "encryption-required":
      return { r: reply(538, "5.7.11", "Encryption required for requested authentication mechanism"), close: false };
    case "unsupported":
      return { r: reply(504, "5.5.4", "Unrecognized authentication type"), close: false };
  }
}

async function readResponse(s: Session): Promise<Buffer> {
  const line = await s.conn.readLine(SMTP_MAX_AUTH_LINE);
  if (line === null) throw new InputError("eof", "connection closed during AUTH");
  const text = line.bytes.toString("latin1").trim();
  if (text === "*") throw new SmtpError(reply(501, "5.7.0", "Authentication cancelled")); // RFC 4954 §4
  const data = decodeBase64(text);
  if (data === null) throw new SmtpError(reply(501, "5.5.2", "Invalid base64 data"));
  return data;
}

export const AUTH: SmtpCommand = {
  name: "AUTH",
  states: ["ready"],
  maxLine: SMTP_MAX_AUTH_LINE,
  async run(s, args) {
    if (s.role !== "submission") throw new SmtpError(reply(503, "5.5.1", "Authentication not enabled here"));
    if (s.account) throw new SmtpError(reply(503, "5.5.1", "Already authenticated"));
    if (!s.conn.passwordAuthAllowed) throw new SmtpError(reply(530, "5.7.0", "Must issue a STARTTLS command first"));
    const m = /^([A-Za-z0-9_-]{1,20})(?:[ \t]+(\S+))?$/.exec(args);
    if (!m) throw new SmtpError(reply(501, "5.5.4", "Syntax: AUTH mechanism [initial-response]"));
    const mechanism = m[1]!.toUpperCase();
    let initial: Buffer | null = null;
    if (m[2] !== undefined) {
      initial = decodeBase64(m[2]);
      if (initial === null) throw new SmtpError(reply(501, "5.5.2", "Invalid base64 data"));
    }
    const exchange = s.services.auth.startSasl(mechanism, {
      remoteAddress: s.conn.remoteAddress,
      protocol: "smtp",
      secure: s.conn.secure,
      passwordAuthAllowed: s.conn.passwordAuthAllowed,
      channelBinding: s.conn.channelBinding ?? null,
      connectionId: s.conn.id,
    });
    let step: SaslStep = await exchange.step(initial);
    while (step.kind === "challenge") {
      await s.send(reply(334, null, step.data.toString("base64")));
      step = await exchange.step(await readResponse(s));
    }
    if (step.kind === "failure") {
      const f = failureReply(step.reason);
      throw new SmtpError(f.r, { close: f.close });
    }
    if (step.data && step.data.length > 0) {
      // RFC 4954 §4: additional data with success goes in a 334, answered by an empty line.
      await s.send(reply(334, null, step.data.toString("base64")));
      const ack = await readResponse(s);
      if (ack.length !== 0) throw new SmtpError(reply(501, "5.5.2", "Expected an empty response"));
    }
    if (!s.conn.claimAccount(step.account.id)) {
      throw new SmtpError(reply(454, "4.7.0", "Too many sessions for this account"), { bad: false });
    }
    s.account = step.account;
    s.applyPhase();
    await s.send(reply(235, "2.7.0", "Authentication successful"));
  },
};
