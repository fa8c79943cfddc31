// The contract between the authentication engine and the protocols.
//
// Every login in Portcullis (SMTP AUTH, IMAP LOGIN/AUTHENTICATE, POP3 USER/PASS/AUTH) goes through
// one AuthService, which applies the brute-force throttle (per IP, per network, per account),
// verifies the password in a bounded worker pool, and logs auth.success / auth.failure. Protocols
// only translate the SASL steps to and from their wire syntax (SMTP "334", IMAP/POP3 "+").

import type { Account } from "../store/types.js";
import type { Protocol } from "../config/schema.js";

export interface AuthContext {
  remoteAddress: string;
  protocol: Protocol | "test";
  /** Whether the connection is TLS-protected (needed for -PLUS mechanisms and the cleartext rule). */
  secure: boolean;
  /** Whether password authentication is allowed on this connection (Connection.passwordAuthAllowed). */
  passwordAuthAllowed: boolean;
  /** tls-exporter channel binding data (RFC 9266), or null when not available. */
  channelBinding: (() => Buffer | null) | null;
  connectionId: string;
  /** Aborted when the connection closes: a throttle delay or a queued verification stops early. */
  signal?: AbortSignal;
}

export type AuthFailureReason =
  | "invalid-credentials" // wrong user or password: the one answer for both
  | "malformed" // the client's message could not be parsed
  | "aborted" // the client cancelled ("*")
  | "throttled" // too many failures: try again later
  | "banned" // the client IP is now banned: close the connection
  | "encryption-required" // password auth on a cleartext connection
  | "unsupported"; // unknown mechanism

export type SaslStep =
  | { kind: "challenge"; data: Buffer }
  | { kind: "success"; account: Account; /** additional data (SCRAM server-final), to send per the protocol's rules */ data: Buffer | null }
  | { kind: "failure"; reason: AuthFailureReason; message: string };

export interface SaslExchange {
  readonly mechanism: string;
  /** Feeds the client's next message, already base64-decoded; `null` when the client sent no
   * initial response. Returns the next step. */
  step(clientMessage: Buffer | null): Promise<SaslStep>;
}

export type PasswordResult =
  | { ok: true; account: Account }
  | { ok: false; reason: AuthFailureReason; message: string };

export interface AuthService {
  /** SASL mechanisms to advertise on a connection in this state, in preference order.
   * Empty when password auth is not allowed (no TLS). */
  mechanisms(ctx: Pick<AuthContext, "secure" | "passwordAuthAllowed" | "channelBinding">): string[];
  /** Starts a SASL exchange; a failure step at once for unknown mechanisms or no TLS. */
  startSasl(mechanism: string, ctx: AuthContext): SaslExchange;
  /** Plain user name + password (IMAP LOGIN, POP3 USER/PASS, SASL PLAIN/LOGIN underneath). */
  verifyPassword(username: string, password: string, ctx: AuthContext): Promise<PasswordResult>;
}
