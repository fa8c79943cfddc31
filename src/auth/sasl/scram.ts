// SCRAM-SHA-256 and SCRAM-SHA-256-PLUS, server side (RFC 5802, RFC 7677, channel binding type
// tls-exporter per RFC 9266).
//
// The client proves it knows the password without sending it; the server proves it holds the
// verifier (ServerSignature), and with -PLUS both bind the exchange to this TLS connection so a
// man in the middle cannot relay it.
//
// Invariants:
// - The parsers (parseClientFirst, parseClientFinal, decodeSaslname) are pure and total: any
//   input gives a value or a reason, never an exception.
// - Channel binding (RFC 5802 §6): -PLUS requires "p=tls-exporter"; the plain mechanism refuses
//   "p", and refuses "y" when this connection offered -PLUS (a downgrade).
// - An unknown, disabled or password-less account runs the same exchange with a salt derived
//   from the user name by the caller's secret (deterministic, so repeated probes see the same
//   salt) and fails only at the proof: the messages do not tell whether the user exists.
// - Proofs and channel-binding data are compared in constant time.

import { randomBytes, timingSafeEqual } from "node:crypto";
import type { Account, ScramCredentials } from "../../store/types.js";
import type { SaslExchange, SaslStep } from "../types.js";
import { hmacSha256, SCRAM_ITERATIONS, sha256 } from "../passwords.js";
import { decodeUtf8, failure, SASL_MAX_MESSAGE, type SaslHooks } from "./common.js";

export const SCRAM_SHA_256 = "SCRAM-SHA-256";
export const SCRAM_SHA_256_PLUS = "SCRAM-SHA-256-PLUS";
/** The one channel binding type we support (RFC 9266). */
export const CHANNEL_BINDING_TYPE = "tls-exporter";

export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

export interface ClientFirst {
  /** The GS2 header as sent, including its final comma ("n,,", "y,,", "p=tls-exporter,,"). */
  gs2Header: string;
  cbFlag: "n" | "y" | "p";
  cbName: string | null;
  authzid: string | null;
  username: string;
  nonce: string;
  /** client-first-message-bare: the part that goes into AuthMessage. */
  bare: string;
}

export interface ClientFinal {
  /** The decoded c= value: GS2 header plus channel-binding data. */
  channelBinding: Buffer;
  nonce: string;
  proof: Buffer;
  /** client-final-message-without-proof, for AuthMessage. */
  withoutProof: string;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
// RFC 5802 §7: printable = %x21-2B / %x2D-7E (no comma)
const PRINTABLE = /^[\x21-\x2b\x2d-\x7e]+$/;
// RFC 5802 §7: attr-val = ALPHA "=" value (extensions)
const EXTENSION = /^[A-Za-z]=/;
const CB_NAME = /^[A-Za-z0-9.-]+$/; // RFC 5802 §7: cb-name = 1*(ALPHA / DIGIT / "." / "-")

/** RFC 5802 §5.1: decodes a saslname ("=2C" is ",", "=3D" is "="; any other "=" is an error). */
export function decodeSaslname(s: string): string | null {
  if (s === "" || /=(?!2C|3D)/.test(s)) return null;
  return s.replace(/=2C/g, ",").replace(/=3D/g, "=");
}

/** Parses the client-first-message (RFC 5802 §7). */
export function parseClientFirst(msg: string): Parsed<ClientFirst> {
  if (msg.length > SASL_MAX_MESSAGE) return { ok: false, message: "SCRAM message too long" };
  if (msg.includes("\0")) return { ok: false, message: "SCRAM message contains NUL" };
  // gs2-header = gs2-cbind-flag "," [ authzid ] ","
  const c1 = msg.indexOf(",");
  const c2 = c1 < 0 ? -1 : msg.indexOf(",", c1 + 1);
  if (c1 < 0 || c2 < 0) return { ok: false, message: "SCRAM client-first message has no GS2 header" };
  const flag = msg.slice(0, c1);
  const authzPart = msg.slice(c1 + 1, c2);
  let cbFlag: ClientFirst["cbFlag"];
  let cbName: string | null = null;
  if (flag === "n" || flag === "y") cbFlag = flag;
  else if (flag.startsWith("p=") && CB_NAME.test(flag.slice(2))) {
    cbFlag = "p";
    cbName = flag.slice(2);
  } else return { ok: false, message: "SCRAM GS2 channel-binding flag must be n, y or p=<type>" };
  let authzid: string | null = null;
  if (authzPart !== "") {
    const a = authzPart.startsWith("a=") ? decodeSaslname(authzPart.slice(2)) : null;
    if (a === null) return { ok: false, message: "SCRAM authzid is malformed" };
    authzid = a;
  }
  const bare = msg.slice(c2 + 1);
  const attrs = bare.split(",");
  // RFC 5802 §5.1: "m" (reserved-mext) MUST cause authentication failure.
  if (attrs[0]?.startsWith("m=")) return { ok: false, message: "SCRAM mandatory extensions are not supported" };
  if (attrs.length < 2 || !attrs[0]!.startsWith("n=") || !attrs[1]!.startsWith("r=")) {
    return { ok: false, message: "SCRAM client-first message needs n=<user>,r=<nonce>" };
  }
  const username = decodeSaslname(attrs[0]!.slice(2));
  if (username === null) return { ok: false, message: "SCRAM user name is malformed" };
  const nonce = attrs[1]!.slice(2);
  if (!PRINTABLE.test(nonce)) return { ok: false, message: "SCRAM nonce is malformed" };
  if (!attrs.slice(2).every((a) => EXTENSION.test(a))) return { ok: false, message: "SCRAM extension is malformed" };
  return { ok: true, value: { gs2Header: msg.slice(0, c2 + 1), cbFlag, cbName, authzid, username, nonce, bare } };
}

/** Parses the client-final-message (RFC 5802 §7):
 * channel-binding "," nonce ["," extensions] "," proof */
export function parseClientFinal(msg: string): Parsed<ClientFinal> {
  if (msg.length > SASL_MAX_MESSAGE) return { ok: false, message: "SCRAM message too long" };
  const attrs = msg.split(",");
  if (attrs.length < 3) return { ok: false, message: "SCRAM client-final message needs c=,r=,p=" };
  const [c, r] = attrs as [string, string];
  const p = attrs[attrs.length - 1]!;
  if (!c.startsWith("c=") || !r.startsWith("r=") || !p.startsWith("p=")) {
    return { ok: false, message: "SCRAM client-final message needs c=,r=,p=" };
  }
  if (!attrs.slice(2, -1).every((a) => EXTENSION.test(a) && !a.startsWith("m="))) {
    return { ok: false, message: "SCRAM extension is malformed or not supported" };
  }
  const cb = c.slice(2);
  const nonce = r.slice(2);
  const proof = p.slice(2);
  if (cb === "" || !BASE64.test(cb)) return { ok: false, message: "SCRAM channel binding is not base64" };
  if (!PRINTABLE.test(nonce)) return { ok: false, message: "SCRAM nonce is malformed" };
  if (proof === "" || !BASE64.test(proof)) return { ok: false, message: "SCRAM proof is not base64" };
  const proofBytes = Buffer.from(proof, "base64");
  if (proofBytes.length !== 32) return { ok: false, message: "SCRAM-SHA-256 proof must be 32 bytes" };
  return {
    ok: true,
    value: {
      channelBinding: Buffer.from(cb, "base64"),
      nonce,
      proof: proofBytes,
      withoutProof: msg.slice(0, msg.length - p.length - 1),
    },
  };
}

/** RFC 5802 §7: server-first-message = nonce "," salt "," iteration-count */
export function formatServerFirst(nonce: string, salt: Buffer, iterations: number): string {
  return `r=${nonce},s=${salt.toString("base64")},i=${iterations}`;
}

/** RFC 5802 §3: checks ClientProof against StoredKey for this AuthMessage. */
export function verifyClientProof(storedKey: Buffer, authMessage: string, proof: Buffer): boolean {
  const clientSignature = hmacSha256(storedKey, authMessage); // ClientSignature := HMAC(StoredKey, AuthMessage)
  if (proof.length !== clientSignature.length) return false;
  const clientKey = Buffer.alloc(proof.length);
  for (let i = 0; i < proof.length; i++) clientKey[i] = proof[i]! ^ clientSignature[i]!; // ClientKey := ClientProof XOR ClientSignature
  const ok = timingSafeEqual(sha256(clientKey), storedKey); // H(ClientKey) must equal StoredKey
  clientKey.fill(0);
  return ok;
}

/** RFC 5802 §3: ServerSignature := HMAC(ServerKey, AuthMessage) */
export function serverSignature(serverKey: Buffer, authMessage: string): Buffer {
  return hmacSha256(serverKey, authMessage);
}

function equalConstantTime(a: Buffer, b: Buffer): boolean {
  // Lengths are not secret here (the GS2 header and exporter length are known to the client).
  return a.length === b.length && timingSafeEqual(a, b);
}

export interface ScramOptions {
  /** SCRAM-SHA-256-PLUS (channel binding required). */
  plus: boolean;
  /** Whether this connection advertised -PLUS: a client saying "y" then means a downgrade. */
  serverSupportsPlus: boolean;
  /** tls-exporter data of this connection (RFC 9266), or null. */
  channelBinding: (() => Buffer | null) | null;
  hooks: SaslHooks;
  /** Salt for a fake exchange for `username` (deterministic: an HMAC of the name with a secret). */
  fakeSalt: (username: string) => Buffer;
  fakeIterations?: number;
  /** The server's part of the nonce; random by default (injectable for the RFC test vector). */
  serverNonce?: () => string;
}

type State =
  | { kind: "start" }
  | {
      kind: "first-sent";
      first: ClientFirst;
      username: string;
      cbData: Buffer | null;
      serverFirst: string;
      nonce: string;
      account: Account | null;
      scram: ScramCredentials | null;
    }
  | { kind: "done" };

export class ScramExchange implements SaslExchange {
  readonly mechanism: string;
  #state: State = { kind: "start" };

  constructor(private readonly o: ScramOptions) {
    this.mechanism = o.plus ? SCRAM_SHA_256_PLUS : SCRAM_SHA_256;
  }

  async step(clientMessage: Buffer | null): Promise<SaslStep> {
    const state = this.#state;
    switch (state.kind) {
      case "start":
        // RFC 4422 §5: no initial response: an empty challenge asks for client-first.
        if (clientMessage === null) return { kind: "challenge", data: Buffer.alloc(0) };
        this.#state = { kind: "done" };
        return this.#clientFirst(clientMessage);
      case "first-sent":
        this.#state = { kind: "done" };
        if (clientMessage === null) return this.o.hooks.fail("malformed", "SCRAM expects the client-final message", state.username, false);
        return this.#clientFinal(state, clientMessage);
      case "done":
        return failure("malformed", "the SCRAM exchange is over");
    }
  }

  async #clientFirst(msg: Buffer): Promise<SaslStep> {
    const { hooks } = this.o;
    const text = msg.length > SASL_MAX_MESSAGE ? null : decodeUtf8(msg);
    if (text === null) return hooks.fail("malformed", "SCRAM message is too long or not UTF-8", null, false);
    const parsed = parseClientFirst(text);
    if (!parsed.ok) return hooks.fail("malformed", parsed.message, null, false);
    const first = parsed.value;
    const username = first.username.toLowerCase();

    // RFC 5802 §6: channel binding negotiation.
    let cbData: Buffer | null = null;
    if (this.o.plus) {
      if (first.cbFlag !== "p") return hooks.fail("malformed", "SCRAM-SHA-256-PLUS requires channel binding (p=tls-exporter)", username, false);
      if (first.cbName !== CHANNEL_BINDING_TYPE) {
        return hooks.fail("unsupported", `channel binding type ${first.cbName} is not supported; use ${CHANNEL_BINDING_TYPE}`, username, false);
      }
      cbData = this.o.channelBinding?.() ?? null;
      if (cbData === null) return hooks.fail("unsupported", "channel binding is not available on this connection", username, false);
    } else if (first.cbFlag === "p") {
      return hooks.fail("malformed", "channel binding requires SCRAM-SHA-256-PLUS", username, false);
    } else if (first.cbFlag === "y" && this.o.serverSupportsPlus) {
      // RFC 5802 §6: the client thinks we cannot do channel binding, but we offered -PLUS:
      // someone removed it from the list on the way (downgrade attack).
      return hooks.fail("invalid-credentials", "SCRAM channel binding downgrade detected", username, false);
    }
    // We do not let one user act as another: an authzid must name the user itself.
    if (first.authzid !== null && first.authzid.toLowerCase() !== username) {
      return hooks.fail("invalid-credentials", "authorization identity differs from the user name", username, false);
    }

    const lookup = await hooks.begin(username);
    if (lookup.kind === "refused") return lookup.step;
    const real = lookup.account !== null && lookup.scram !== null;
    const salt = real ? lookup.scram!.salt : this.o.fakeSalt(username);
    const iterations = real ? lookup.scram!.iterations : (this.o.fakeIterations ?? SCRAM_ITERATIONS);
    const serverPart = this.o.serverNonce?.() ?? randomBytes(18).toString("base64");
    const nonce = first.nonce + serverPart; // RFC 5802 §5.1: r= client nonce + server nonce
    const serverFirst = formatServerFirst(nonce, salt, iterations);
    this.#state = {
      kind: "first-sent",
      first,
      username,
      cbData,
      serverFirst,
      nonce,
      account: real ? lookup.account : null,
      scram: real ? lookup.scram : null,
    };
    return { kind: "challenge", data: Buffer.from(serverFirst) };
  }

  async #clientFinal(state: Extract<State, { kind: "first-sent" }>, msg: Buffer): Promise<SaslStep> {
    const { hooks } = this.o;
    const { username } = state;
    const text = msg.length > SASL_MAX_MESSAGE ? null : decodeUtf8(msg);
    if (text === null) return hooks.fail("malformed", "SCRAM message is too long or not UTF-8", username, false);
    const parsed = parseClientFinal(text);
    if (!parsed.ok) return hooks.fail("malformed", parsed.message, username, false);
    const final = parsed.value;
    // RFC 5802 §5.1: the nonce must be the one the server sent.
    if (final.nonce !== state.nonce) return hooks.fail("malformed", "SCRAM nonce does not match", username, false);
    // RFC 5802 §7: cbind-input = gs2-header [ cbind-data ] ; cbind-data only with "p".
    const expected = Buffer.concat([Buffer.from(state.first.gs2Header), state.cbData ?? Buffer.alloc(0)]);
    if (!equalConstantTime(final.channelBinding, expected)) {
      return hooks.fail("invalid-credentials", "SCRAM channel binding does not match this connection", username, false);
    }
    // RFC 5802 §3: AuthMessage := client-first-message-bare + "," + server-first-message + "," +
    //                             client-final-message-without-proof
    const authMessage = `${state.first.bare},${state.serverFirst},${final.withoutProof}`;
    if (state.account === null || state.scram === null) {
      // Fake exchange: do the same work, then fail like a wrong password.
      verifyClientProof(sha256(Buffer.from(authMessage)), authMessage, final.proof);
      return hooks.fail("invalid-credentials", "authentication failed", username, true);
    }
    if (!verifyClientProof(state.scram.storedKey, authMessage, final.proof)) {
      return hooks.fail("invalid-credentials", "authentication failed", username, true);
    }
    hooks.succeed(state.account);
    // RFC 5802 §7: server-final-message = verifier ; verifier = "v=" base64(ServerSignature)
    const v = serverSignature(state.scram.serverKey, authMessage).toString("base64");
    return { kind: "success", account: state.account, data: Buffer.from(`v=${v}`) };
  }
}
