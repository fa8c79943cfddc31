// MTA-STS (RFC 8461): whether a destination domain requires verified TLS to a listed MX.
//
// Pure parts: parseStsRecord (the _mta-sts TXT record, §3.1), parsePolicy (the policy file,
// §3.2), mxMatches (§4.1). MtaStsPolicies does the I/O through an injected resolver and fetcher
// and caches each policy by its id for max_age (§3.3; the cache lives in memory, so a restart
// fetches again).
//
// Invariants: a policy is used only if the TXT record exists and the HTTPS fetch (certificate
// verified, 64 KB max, no redirects, §3.3) succeeds, or a cached unexpired policy exists; any
// failure to find a policy means "no policy" (§5: deliver as without MTA-STS), never a bounce.

import { request } from "node:https";
import type { DnsResolver } from "./dns.js";

export type StsMode = "enforce" | "testing" | "none";

export interface StsPolicy {
  mode: StsMode;
  mx: string[];
  maxAgeSec: number;
}

/** RFC 8461 §3.1: "v=STSv1; id=20160831085700Z;" -> the id, or null if not a valid record. */
export function parseStsRecord(txt: string): { id: string } | null {
  const fields = txt.split(";").map((f) => f.trim()).filter((f) => f !== "");
  if (fields[0] !== "v=STSv1") return null;
  for (const f of fields.slice(1)) {
    const m = /^id=([A-Za-z0-9]{1,32})$/.exec(f);
    if (m) return { id: m[1]! };
  }
  return null;
}

/** RFC 8461 §3.2: key: value lines; version, mode, max_age required; mx required unless mode none. */
export function parsePolicy(text: string): StsPolicy | { error: string } {
  let version: string | null = null;
  let mode: StsMode | null = null;
  let maxAge: number | null = null;
  const mx: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "") continue;
    const m = /^([A-Za-z0-9_]+)\s*:\s*(.*)$/.exec(line);
    if (!m) return { error: `malformed line: ${JSON.stringify(line.slice(0, 80))}` };
    const key = m[1]!;
    const value = m[2]!.trim();
    if (key === "version") version = value;
    else if (key === "mode") {
      if (value !== "enforce" && value !== "testing" && value !== "none") return { error: `unknown mode ${JSON.stringify(value)}` };
      mode = value;
    } else if (key === "max_age") {
      if (!/^\d{1,10}$/.test(value)) return { error: "max_age is not a number" };
      maxAge = Math.min(Number(value), 31_557_600); // §3.2: at most one year
    } else if (key === "mx") {
      if (!/^(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.?$/.test(value)) return { error: `bad mx pattern ${JSON.stringify(value)}` };
      mx.push(value.toLowerCase().replace(/\.$/, ""));
    } // §3.2: unknown keys are ignored
  }
  if (version !== "STSv1") return { error: "version is not STSv1" };
  if (mode === null) return { error: "no mode" };
  if (maxAge === null) return { error: "no max_age" };
  if (mode !== "none" && mx.length === 0) return { error: "no mx" };
  return { mode, mx, maxAgeSec: maxAge };
}

/** RFC 8461 §4.1: exact name, or "*.example.com" matching exactly one extra left-most label. */
export function mxMatches(host: string, patterns: readonly string[]): boolean {
  const h = host.toLowerCase().replace(/\.$/, "");
  return patterns.some((p) => {
    if (p.startsWith("*.")) {
      const suffix = p.slice(1); // ".example.com"
      if (!h.endsWith(suffix)) return false;
      const label = h.slice(0, h.length - suffix.length);
      return label.length > 0 && !label.includes(".");
    }
    return h === p;
  });
}

export type PolicyFetcher = (url: string) => Promise<string>;

/** The default fetcher: HTTPS GET with a verified certificate, no redirects, 64 KB, 30 s (§3.3). */
export const httpsFetchPolicy: PolicyFetcher = (url) =>
  new Promise((resolve, reject) => {
    const req = request(url, { method: "GET", timeout: 30_000, rejectUnauthorized: true }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`HTTP ${res.statusCode}`)); // §3.3: redirects are not followed
        return;
      }
      const chunks: Buffer[] = [];
      let n = 0;
      res.on("data", (c: Buffer) => {
        n += c.length;
        if (n > 64 * 1024) {
          req.destroy(new Error("policy larger than 64 KB"));
          return;
        }
        chunks.push(c);
      });
      res.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", reject);
    req.end();
  });

interface Cached {
  id: string;
  policy: StsPolicy;
  expiresAt: number;
}

/** Policy discovery with a cache. */
export class MtaStsPolicies {
  private readonly cache = new Map<string, Cached>();

  constructor(
    private readonly resolver: DnsResolver,
    private readonly fetch: PolicyFetcher = httpsFetchPolicy,
    private readonly now: () => number = Date.now,
  ) {}

  /** The policy in force for `domain`, or null (no MTA-STS, or none could be obtained). */
  async policyFor(domain: string): Promise<StsPolicy | null> {
    const d = domain.toLowerCase().replace(/\.$/, "");
    const cached = this.cache.get(d);
    const fresh = cached && cached.expiresAt > this.now() ? cached : null;
    let id: string | null = null;
    try {
      const txt = await this.resolver.resolveTxt(`_mta-sts.${d}`);
      // §3.1: exactly one record starting with v=STSv1, else no policy.
      const records = txt.map((parts) => parts.join("")).filter((t) => t.startsWith("v=STSv1"));
      if (records.length === 1) id = parseStsRecord(records[0]!)?.id ?? null;
    } catch {
      return fresh?.policy ?? null; // §5.1: DNS trouble -> use a cached policy if we have one
    }
    if (id === null) return fresh?.policy ?? null;
    if (fresh && fresh.id === id) return fresh.policy;
    try {
      const parsed = parsePolicy(await this.fetch(`https://mta-sts.${d}/.well-known/mta-sts.txt`));
      if ("error" in parsed) return fresh?.policy ?? null;
      this.cache.set(d, { id, policy: parsed, expiresAt: this.now() + parsed.maxAgeSec * 1000 });
      return parsed;
    } catch {
      return fresh?.policy ?? null; // §3.3: fetch failed -> keep using the cached policy
    }
  }
}
