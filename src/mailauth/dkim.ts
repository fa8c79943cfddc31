// DKIM signing (RFC 6376) of outgoing mail with the domain's key made by `portcullis init`
// (<data>/dkim/<domain>.<selector>.pem, see src/config/init.ts), through the `mailauth` package.
// Optionally also Ed25519 (RFC 8463): when <data>/dkim/<domain>.<selector>-ed25519.pem exists
// (e.g. `openssl genpkey -algorithm ed25519`), a second signature with selector
// "<selector>-ed25519" is added; receivers that do not know Ed25519 ignore it (RFC 8463 §5).
//
// Invariants: relaxed/relaxed canonicalization and rsa-sha256 (RFC 6376 §3.4, §3.3); the message
// is read as a stream (never held whole for signing); a missing key means "do not sign", never a
// failure; the private key is never logged.

import { readFile } from "node:fs/promises";
import { createPrivateKey } from "node:crypto";
import type { Readable } from "node:stream";
import { dkimSign, type DKIMSignOptions } from "mailauth";
import { dkimKeyPath } from "../config/init.js";

/** The headers we sign (RFC 6376 §5.4.1: From is required; the rest are recommended). */
const SIGNED_HEADERS = [
  "From", "Sender", "Reply-To", "Subject", "Date", "Message-ID", "To", "Cc", "MIME-Version", "Content-Type",
  "Content-Transfer-Encoding", "In-Reply-To", "References", "List-Id", "List-Unsubscribe", "List-Unsubscribe-Post",
];

export interface DkimKey {
  domain: string;
  selector: string;
  privateKey: string;
}

/** The DKIM-Signature header field(s) for `message`, one per key, with CRLF after each; "" if none. */
export async function dkimSignature(message: Readable | Buffer, keys: DkimKey | DkimKey[], signTime?: Date): Promise<string> {
  const list = Array.isArray(keys) ? keys : [keys];
  if (list.length === 0) return "";
  const data: DKIMSignOptions[] = list.map((key) => ({
    signingDomain: key.domain,
    selector: key.selector,
    privateKey: key.privateKey,
    // RFC 8463 §3 for Ed25519 keys, RFC 6376 §3.3 rsa-sha256 otherwise.
    algorithm: createPrivateKey(key.privateKey).asymmetricKeyType === "ed25519" ? "ed25519-sha256" : "rsa-sha256",
    canonicalization: "relaxed/relaxed", // RFC 6376 §3.4.2, §3.4.4
    headerList: SIGNED_HEADERS,
    ...(signTime ? { signTime } : {}),
  }));
  // mailauth 4 signs only what is listed in signatureData (docs/dependencies.md).
  const r = await dkimSign(message, { ...data[0]!, signatureData: data });
  if (r.errors && r.errors.length > 0) {
    const first = r.errors[0] as { error?: unknown } | unknown;
    const msg = first && typeof first === "object" && "error" in first ? String((first as { error?: unknown }).error) : String(first);
    throw new Error(`DKIM signing for ${list[0]!.domain} failed: ${msg}`);
  }
  const sig = r.signatures.trim();
  return sig === "" ? "" : sig.replace(/\r?\n/g, "\r\n") + "\r\n";
}

/** Loads domain keys from the data directory, caching them for a minute. */
export class DkimKeys {
  private readonly cache = new Map<string, { key: DkimKey | null; at: number }>();

  constructor(
    private readonly dataDir: string,
    private readonly selector: string,
  ) {}

  /** The keys to sign `domain`'s mail with: the RSA key, plus the Ed25519 key if there is one. */
  async keysFor(domain: string): Promise<DkimKey[]> {
    const main = await this.keyFor(domain);
    if (!main) return [];
    const ed = await this.keyFor(domain, `${this.selector}-ed25519`);
    return ed ? [main, ed] : [main];
  }

  /** The key of `domain` (for `selector`, default the configured one), or null when there is none. */
  async keyFor(domain: string, selector = this.selector): Promise<DkimKey | null> {
    const d = domain.toLowerCase().replace(/\.$/, "");
    if (!/^[a-z0-9.-]+$/.test(d) || d.includes("..")) return null; // no path tricks through a domain name
    const id = `${d}\0${selector}`;
    const c = this.cache.get(id);
    if (c && Date.now() - c.at < 60_000) return c.key;
    let key: DkimKey | null = null;
    try {
      const pem = await readFile(dkimKeyPath(this.dataDir, d, selector), "utf8");
      key = { domain: d, selector, privateKey: pem };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
    this.cache.set(id, { key, at: Date.now() });
    return key;
  }
}
