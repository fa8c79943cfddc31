// The PLAIN mechanism (RFC 4616): one client message "authzid NUL authcid NUL passwd".
//
// Invariants: parsePlain is pure; a message that is not exactly three UTF-8 fields separated by
// two NULs, with non-empty authcid and passwd within SASL_MAX_FIELD octets, is "malformed" and
// never reaches the password check; an authzid other than empty or the authcid itself is
// refused (we do not support acting as another user); the client message is zeroed after use
// (best effort: it holds the password).

import type { SaslExchange, SaslStep } from "../types.js";
import { decodeUtf8, failure, fromPasswordResult, SASL_MAX_FIELD, SASL_MAX_MESSAGE, type SaslHooks } from "./common.js";

export type PlainMessage =
  | { ok: true; authzid: string; authcid: string; password: string }
  | { ok: false; message: string };

/** Parses a PLAIN client message (RFC 4616 §2). */
export function parsePlain(msg: Uint8Array): PlainMessage {
  if (msg.length > SASL_MAX_MESSAGE) return { ok: false, message: "PLAIN message too long" };
  // RFC 4616 §2: message = [authzid] UTF8NUL authcid UTF8NUL passwd
  const first = msg.indexOf(0);
  const second = first < 0 ? -1 : msg.indexOf(0, first + 1);
  if (first < 0 || second < 0) return { ok: false, message: "PLAIN message needs authzid NUL authcid NUL password" };
  if (msg.indexOf(0, second + 1) >= 0) return { ok: false, message: "PLAIN message has more than two NULs" };
  const parts = [msg.subarray(0, first), msg.subarray(first + 1, second), msg.subarray(second + 1)];
  if (parts.some((p) => p.length > SASL_MAX_FIELD)) return { ok: false, message: "PLAIN field too long" };
  const [authzid, authcid, password] = parts.map((p) => decodeUtf8(p));
  if (authzid === null || authcid === null || password === null) return { ok: false, message: "PLAIN message is not valid UTF-8" };
  // RFC 4616 §2: authcid = 1*SAFE, passwd = 1*SAFE
  if (authcid === "") return { ok: false, message: "PLAIN message has an empty user name" };
  if (password === "") return { ok: false, message: "PLAIN message has an empty password" };
  return { ok: true, authzid: authzid!, authcid: authcid!, password: password! };
}

export class PlainExchange implements SaslExchange {
  readonly mechanism = "PLAIN";
  #done = false;

  constructor(private readonly hooks: SaslHooks) {}

  async step(clientMessage: Buffer | null): Promise<SaslStep> {
    if (this.#done) return failure("malformed", "the PLAIN exchange is over");
    // RFC 4422 §5: without an initial response the server sends an empty challenge.
    if (clientMessage === null) return { kind: "challenge", data: Buffer.alloc(0) };
    this.#done = true;
    try {
      const parsed = parsePlain(clientMessage);
      if (!parsed.ok) return await this.hooks.fail("malformed", parsed.message, null, false);
      // RFC 4616 §2: the server must check that the authcid may act as the authzid; we allow
      // only the authcid itself (user names are addresses, compared case-insensitively).
      if (parsed.authzid !== "" && parsed.authzid.toLowerCase() !== parsed.authcid.toLowerCase()) {
        return await this.hooks.fail("invalid-credentials", "authorization identity differs from the user name", parsed.authcid, false);
      }
      return fromPasswordResult(await this.hooks.verifyPassword(parsed.authcid, parsed.password));
    } finally {
      clientMessage.fill(0);
    }
  }
}
