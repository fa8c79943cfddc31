// A minimal SCRAM-SHA-256(-PLUS) client (RFC 5802 §3, §7), for tests of the server side and for
// end-to-end tests that log in with SCRAM. Not used by the server.
//
// Invariants: it computes exactly what RFC 5802 §3 says from the password, salt and iteration
// count the server sends, and checks the server's signature before reporting success.

import { pbkdf2Sync, randomBytes, timingSafeEqual } from "node:crypto";
import { hmacSha256, sha256 } from "../passwords.js";
import { saslprep } from "../saslprep.js";

export interface ScramClientOptions {
  username: string;
  password: string;
  /** GS2 header; default "n,,". For -PLUS: "p=tls-exporter,,". */
  gs2Header?: string;
  /** Channel-binding data appended to the GS2 header in c= (for "p="). */
  channelBinding?: Buffer;
  nonce?: string;
}

function escapeSaslname(s: string): string {
  return s.replace(/=/g, "=3D").replace(/,/g, "=2C");
}

export class ScramClient {
  readonly gs2Header: string;
  readonly clientFirstBare: string;
  #serverSignature: Buffer | null = null;

  constructor(private readonly o: ScramClientOptions) {
    this.gs2Header = o.gs2Header ?? "n,,";
    const nonce = o.nonce ?? randomBytes(18).toString("base64");
    this.clientFirstBare = `n=${escapeSaslname(o.username)},r=${nonce}`;
  }

  clientFirst(): Buffer {
    return Buffer.from(this.gs2Header + this.clientFirstBare);
  }

  /** Answers the server-first message with the client-final message. */
  clientFinal(serverFirst: Buffer | string): Buffer {
    const sf = serverFirst.toString();
    const attrs = Object.fromEntries(sf.split(",").map((a) => [a.slice(0, 1), a.slice(2)]));
    const salt = Buffer.from(attrs.s ?? "", "base64");
    const iterations = Number(attrs.i);
    const cbind = Buffer.concat([Buffer.from(this.gs2Header), this.o.channelBinding ?? Buffer.alloc(0)]);
    const withoutProof = `c=${cbind.toString("base64")},r=${attrs.r}`;
    const authMessage = `${this.clientFirstBare},${sf},${withoutProof}`;
    // RFC 5802 §3: SaltedPassword := Hi(Normalize(password), salt, i)
    const salted = pbkdf2Sync(Buffer.from(saslprep(this.o.password)), salt, iterations, 32, "sha256");
    const clientKey = hmacSha256(salted, "Client Key");
    const storedKey = sha256(clientKey);
    const serverKey = hmacSha256(salted, "Server Key");
    const clientSignature = hmacSha256(storedKey, authMessage);
    const proof = Buffer.alloc(32);
    for (let i = 0; i < 32; i++) proof[i] = clientKey[i]! ^ clientSignature[i]!;
    this.#serverSignature = hmacSha256(serverKey, authMessage);
    return Buffer.from(`${withoutProof},p=${proof.toString("base64")}`);
  }

  /** Checks the server-final message "v=<ServerSignature>". */
  verifyServerFinal(serverFinal: Buffer | string): boolean {
    const s = serverFinal.toString();
    if (!s.startsWith("v=") || this.#serverSignature === null) return false;
    const v = Buffer.from(s.slice(2), "base64");
    return v.length === this.#serverSignature.length && timingSafeEqual(v, this.#serverSignature);
  }
}
