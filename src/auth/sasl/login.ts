// The LOGIN mechanism (draft-murchison-sasl-login): not an RFC, but what Outlook and many older
// clients use. The server asks "Username:" then "Password:"; the client answers each in turn.
// A client may send the user name as an initial response (SMTP "AUTH LOGIN <base64 user>").
//
// Invariants: each answer must be non-empty UTF-8 within SASL_MAX_FIELD octets, else "malformed";
// the password goes only to the password check; client messages are zeroed after use.

import type { SaslExchange, SaslStep } from "../types.js";
import { decodeUtf8, failure, fromPasswordResult, SASL_MAX_FIELD, type SaslHooks } from "./common.js";

export const LOGIN_USERNAME_CHALLENGE = Buffer.from("Username:");
export const LOGIN_PASSWORD_CHALLENGE = Buffer.from("Password:");

/** Decodes one LOGIN answer, or gives the reason it is malformed. */
export function parseLoginField(msg: Uint8Array, what: "user name" | "password"): { ok: true; value: string } | { ok: false; message: string } {
  if (msg.length > SASL_MAX_FIELD) return { ok: false, message: `LOGIN ${what} too long` };
  if (msg.length === 0) return { ok: false, message: `LOGIN ${what} is empty` };
  const value = decodeUtf8(msg);
  if (value === null) return { ok: false, message: `LOGIN ${what} is not valid UTF-8` };
  if (what === "user name" && value.includes("\0")) return { ok: false, message: "LOGIN user name contains NUL" };
  return { ok: true, value };
}

export class LoginExchange implements SaslExchange {
  readonly mechanism = "LOGIN";
  #state: "start" | "username" | "password" | "done" = "start";
  #username = "";

  constructor(private readonly hooks: SaslHooks) {}

  async step(clientMessage: Buffer | null): Promise<SaslStep> {
    switch (this.#state) {
      case "start":
        // An empty or absent initial response: ask for the user name.
        if (clientMessage === null || clientMessage.length === 0) {
          this.#state = "username";
          return { kind: "challenge", data: Buffer.from(LOGIN_USERNAME_CHALLENGE) };
        }
        return this.#takeUsername(clientMessage);
      case "username":
        if (clientMessage === null) return this.#malformed("LOGIN expects a user name", null);
        return this.#takeUsername(clientMessage);
      case "password": {
        if (clientMessage === null) return this.#malformed("LOGIN expects a password", this.#username);
        this.#state = "done";
        try {
          const parsed = parseLoginField(clientMessage, "password");
          if (!parsed.ok) return await this.hooks.fail("malformed", parsed.message, this.#username, false);
          return fromPasswordResult(await this.hooks.verifyPassword(this.#username, parsed.value));
        } finally {
          clientMessage.fill(0);
        }
      }
      case "done":
        return failure("malformed", "the LOGIN exchange is over");
    }
  }

  async #takeUsername(msg: Buffer): Promise<SaslStep> {
    const parsed = parseLoginField(msg, "user name");
    if (!parsed.ok) return this.#malformed(parsed.message, null);
    this.#username = parsed.value;
    this.#state = "password";
    return { kind: "challenge", data: Buffer.from(LOGIN_PASSWORD_CHALLENGE) };
  }

  async #malformed(message: string, username: string | null): Promise<SaslStep> {
    this.#state = "done";
    return this.hooks.fail("malformed", message, username, false);
  }
}
