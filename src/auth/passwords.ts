// Password secrets: argon2id hashes and SCRAM-SHA-256 verifiers (threat model §1, §2, §4).
//
// A password is SASLprep'd (RFC 4013) once, then turned into two secrets that are stored and
// never the password itself: an argon2id PHC string at the OWASP parameters, for PLAIN/LOGIN
// and the protocols' own login commands, and a SCRAM-SHA-256 verifier (RFC 5802 §3, RFC 7677)
// so that SCRAM clients never send the password at all.
//
// Invariants: argon2 work runs through a PasswordHasher whose Semaphore bounds how many
// operations run at once; both argon2 and PBKDF2 run on libuv's thread pool, never on the event
// loop; the UTF-8 bytes of the password are zeroed after each use (best effort: JavaScript
// strings cannot be wiped).

import { hash as argon2Hash, verify as argon2Verify } from "@node-rs/argon2";
import { createHash, createHmac, pbkdf2, randomBytes } from "node:crypto";
import type { Credentials, ScramCredentials } from "../store/types.js";
import { saslprep } from "./saslprep.js";
import { Semaphore } from "./semaphore.js";

/** OWASP Password Storage Cheat Sheet: argon2id, m=19 MiB, t=2, p=1. (argon2id is the
 * library's default algorithm; its `Algorithm` const enum cannot be used under isolatedModules.) */
export const ARGON2_OPTIONS = { memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

/** SCRAM-SHA-256 iteration count: RFC 7677 §4 requires at least 4096. */
export const SCRAM_ITERATIONS = 10_000;
export const SCRAM_MIN_ITERATIONS = 4096;
export const SCRAM_SALT_BYTES = 16;

/** An argon2id hash of a random password nobody knows, at the same parameters: verified against
 * when the account is unknown or has no password, so that the answer takes as long either way. */
export const DUMMY_HASH = "$argon2id$v=19$m=19456,t=2,p=1$g55Wp8cvUO3Aj+35fEhHdA$lN2UclwuMdtTf0h30A/7zYFPLmor/ssnu7i2Mtynz5s";

/** Runs argon2id hashing and verification, at most `workers` at a time. */
export class PasswordHasher {
  readonly #pool: Semaphore;

  constructor(workers: number) {
    this.#pool = new Semaphore(workers);
  }

  /** Operations running now, and waiting for a slot. */
  get active(): number {
    return this.#pool.active;
  }
  get waiting(): number {
    return this.#pool.waiting;
  }

  /** Hashes an already SASLprep'd password. */
  async hash(prepared: string, signal?: AbortSignal): Promise<string> {
    const bytes = Buffer.from(prepared, "utf8");
    try {
      return await this.#pool.run(() => argon2Hash(bytes, ARGON2_OPTIONS), signal);
    } finally {
      bytes.fill(0);
    }
  }

  /** Verifies an already SASLprep'd password against a PHC string. A malformed stored hash is
   * a mismatch, never an exception. */
  async verify(phc: string, prepared: string, signal?: AbortSignal): Promise<boolean> {
    const bytes = Buffer.from(prepared, "utf8");
    try {
      return await this.#pool.run(async () => {
        try {
          return await argon2Verify(phc, bytes);
        } catch {
          return false;
        }
      }, signal);
    } finally {
      bytes.fill(0);
    }
  }
}

// RFC 5802 §2.2: H(), HMAC() and Hi() (PBKDF2 with HMAC as PRF, dkLen = output length of H).
export function sha256(data: Buffer): Buffer {
  return createHash("sha256").update(data).digest();
}

export function hmacSha256(key: Buffer, data: Buffer | string): Buffer {
  return createHmac("sha256", key).update(data).digest();
}

function hi(password: Buffer, salt: Buffer, iterations: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    pbkdf2(password, salt, iterations, 32, "sha256", (err, key) => (err ? reject(err) : resolve(key))),
  );
}

/** Derives the SCRAM-SHA-256 verifier of an already SASLprep'd password (RFC 5802 §3). */
export async function deriveScram(prepared: string, salt: Buffer, iterations: number): Promise<ScramCredentials> {
  if (!Number.isInteger(iterations) || iterations < SCRAM_MIN_ITERATIONS) {
    throw new RangeError(`SCRAM iteration count must be at least ${SCRAM_MIN_ITERATIONS} (RFC 7677 §4)`);
  }
  const bytes = Buffer.from(prepared, "utf8");
  let salted: Buffer | null = null;
  let clientKey: Buffer | null = null;
  try {
    salted = await hi(bytes, salt, iterations); // SaltedPassword := Hi(Normalize(password), salt, i)
    clientKey = hmacSha256(salted, "Client Key"); // ClientKey := HMAC(SaltedPassword, "Client Key")
    const storedKey = sha256(clientKey); // StoredKey := H(ClientKey)
    const serverKey = hmacSha256(salted, "Server Key"); // ServerKey := HMAC(SaltedPassword, "Server Key")
    return { salt: Buffer.from(salt), iterations, storedKey, serverKey };
  } finally {
    bytes.fill(0);
    salted?.fill(0);
    clientKey?.fill(0);
  }
}

export interface MakeCredentialsOptions {
  /** The pool to hash in; without one, a private pool of one worker is used. */
  hasher?: PasswordHasher;
  iterations?: number;
  /** For tests only: a fixed SCRAM salt. */
  salt?: Buffer;
}

/** Turns a new password into the stored secrets. Throws a SaslprepError for a password with
 * characters that cannot be used (RFC 4013 §2.3, stored-string rules). Strength is checked
 * separately (checkPasswordStrength). */
export async function makeCredentials(password: string, opts: MakeCredentialsOptions = {}): Promise<Credentials> {
  const prepared = saslprep(password, { storedString: true });
  const hasher = opts.hasher ?? new PasswordHasher(1);
  const salt = opts.salt ?? randomBytes(SCRAM_SALT_BYTES);
  const [passwordHash, scram] = await Promise.all([
    hasher.hash(prepared),
    deriveScram(prepared, salt, opts.iterations ?? SCRAM_ITERATIONS),
  ]);
  return { passwordHash, scram };
}
