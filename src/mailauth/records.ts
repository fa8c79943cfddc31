// The DNS records a Portcullis domain should publish, and how to compare them with what is
// published (`portcullis dns [--check]`). Pure: the caller reads the key and does the lookups.
//
// Records: MX (RFC 5321 §5.1), SPF (RFC 7208), DKIM (RFC 6376 §3.6.1), DMARC (RFC 7489 §6.3),
// MTA-STS (RFC 8461 §3.1, plus the policy file §3.2), TLS-RPT (RFC 8460 §3), and SRV records
// for client autoconfiguration (RFC 6186, RFC 8314 §5.1).
// Invariant: every value is printable ASCII; TXT values longer than 255 octets are split into
// several strings when written as a zone line (RFC 1035 §3.3.14), and compared joined.

import { createHash, createPublicKey } from "node:crypto";

export type RecordType = "MX" | "TXT" | "SRV" | "CNAME";

export interface DnsRecord {
  /** What it is for, shown to the operator. */
  purpose: string;
  /** Fully qualified, with the trailing dot. */
  name: string;
  type: RecordType;
  /** MX: "10 host."; TXT: the text (unquoted, joined); SRV: "prio weight port target."; CNAME: "host." */
  value: string;
}

export interface SrvService {
  service: "_submissions" | "_submission" | "_imaps" | "_imap" | "_pop3s" | "_pop3";
  /** null: not offered (RFC 6186 §3.4: target "." with port 0). */
  port: number | null;
}

export interface RecordInput {
  domain: string;
  hostname: string;
  selector: string;
  /** The domain's DKIM private key (PEM), or null when there is none. */
  dkimPrivateKey: string | null;
  /** Further DKIM keys (the optional Ed25519 one, RFC 8463), each with its own selector. */
  extraDkim?: Array<{ selector: string; privateKey: string }>;
  ipv4?: string[];
  ipv6?: string[];
  services: SrvService[];
  /** The MTA-STS mode to publish (default "testing": the safe first step, RFC 8461 §5). */
  mtaStsMode?: "testing" | "enforce";
  /** The policy file actually served (its id is derived from it); default: mtaStsPolicy(hostname, mode). */
  mtaStsPolicyText?: string;
}

const fq = (n: string): string => (n.endsWith(".") ? n : `${n}.`);

/** The base64 SubjectPublicKeyInfo of a private key: DKIM's p= (RFC 6376 §3.6.1). */
export function dkimPublicKey(privateKeyPem: string): { k: "rsa" | "ed25519"; p: string } {
  const pub = createPublicKey(privateKeyPem);
  if (pub.asymmetricKeyType === "ed25519") {
    // RFC 8463 §4.2: the raw 32-byte key, not the SPKI structure.
    const der = pub.export({ type: "spki", format: "der" });
    return { k: "ed25519", p: der.subarray(der.length - 32).toString("base64") };
  }
  return { k: "rsa", p: pub.export({ type: "spki", format: "der" }).toString("base64") };
}

/** The MTA-STS policy file served at https://mta-sts.<domain>/.well-known/mta-sts.txt (RFC 8461 §3.2). */
export function mtaStsPolicy(hostname: string, mode: "testing" | "enforce" = "testing"): string {
  return `version: STSv1\r\nmode: ${mode}\r\nmx: ${hostname.replace(/\.$/, "")}\r\nmax_age: 604800\r\n`;
}

/** The policy id: changes whenever the policy text changes (RFC 8461 §3.1: 1-32 alphanumerics). */
export function mtaStsId(policy: string): string {
  return createHash("sha256").update(policy).digest("hex").slice(0, 20);
}

export function recordsFor(o: RecordInput): DnsRecord[] {
  const d = o.domain.toLowerCase().replace(/\.$/, "");
  const host = fq(o.hostname.toLowerCase());
  const out: DnsRecord[] = [{ purpose: "MX: where mail for the domain goes", name: fq(d), type: "MX", value: `10 ${host}` }];
  const ips = [...(o.ipv4 ?? []).map((a) => `ip4:${a}`), ...(o.ipv6 ?? []).map((a) => `ip6:${a}`)];
  // RFC 7208 §5.4 "mx": the MX hosts may send for the domain; "-all": nobody else.
  out.push({ purpose: "SPF: who may send mail for the domain", name: fq(d), type: "TXT", value: ["v=spf1", "mx", ...ips, "-all"].join(" ") });
  if (o.dkimPrivateKey) {
    const { k, p } = dkimPublicKey(o.dkimPrivateKey);
    out.push({ purpose: "DKIM: the public key that verifies our signatures", name: `${o.selector}._domainkey.${d}.`, type: "TXT", value: `v=DKIM1; k=${k}; p=${p}` });
  }
  for (const x of o.extraDkim ?? []) {
    const { k, p } = dkimPublicKey(x.privateKey);
    out.push({ purpose: `DKIM: the ${k} public key (second signature)`, name: `${x.selector}._domainkey.${d}.`, type: "TXT", value: `v=DKIM1; k=${k}; p=${p}` });
  }
  // RFC 7489 §6.3: quarantine is a safe start; aggregate reports to a local address.
  out.push({ purpose: "DMARC: what receivers do with mail failing SPF and DKIM", name: `_dmarc.${d}.`, type: "TXT", value: `v=DMARC1; p=quarantine; rua=mailto:dmarc-reports@${d}` });
  const policy = o.mtaStsPolicyText ?? mtaStsPolicy(o.hostname, o.mtaStsMode);
  out.push({ purpose: "MTA-STS: senders must use verified TLS (policy id)", name: `_mta-sts.${d}.`, type: "TXT", value: `v=STSv1; id=${mtaStsId(policy)}` });
  out.push({ purpose: "MTA-STS: the host serving the policy file over HTTPS", name: `mta-sts.${d}.`, type: "CNAME", value: host });
  out.push({ purpose: "TLS-RPT: where senders report TLS failures", name: `_smtp._tls.${d}.`, type: "TXT", value: `v=TLSRPTv1; rua=mailto:tls-reports@${d}` });
  for (const s of o.services) {
    // RFC 6186 §3.4: a service not offered is published with target "." ; RFC 8314 §5.1 prefers implicit TLS.
    const value = s.port === null ? "0 0 0 ." : `${s.service.endsWith("s") ? 0 : 10} 1 ${s.port} ${host}`;
    out.push({ purpose: `SRV: client autoconfiguration (${s.service.slice(1)})`, name: `${s.service}._tcp.${d}.`, type: "SRV", value });
  }
  return out;
}

/** TXT text as zone-file strings of at most 255 octets (RFC 1035 §3.3.14). */
export function quoteTxt(text: string): string {
  const parts: string[] = [];
  for (let i = 0; i < text.length; i += 255) parts.push(`"${text.slice(i, i + 255).replace(/["\\]/g, "\\$&")}"`);
  return parts.length === 1 ? parts[0]! : `( ${parts.join(" ")} )`;
}

/** One zone-file line. */
export function zoneLine(r: DnsRecord): string {
  return `${r.name} 3600 IN ${r.type} ${r.type === "TXT" ? quoteTxt(r.value) : r.value}`;
}

export type CheckResult = { status: "ok" } | { status: "missing" } | { status: "different"; found: string[] };

/** The tag=value pairs of a record such as DKIM/DMARC ("v=DKIM1; k=rsa; p=..."), keys lower-cased. */
function tags(s: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const part of s.split(";")) {
    const i = part.indexOf("=");
    if (i > 0) m.set(part.slice(0, i).trim().toLowerCase(), part.slice(i + 1).replace(/\s+/g, ""));
  }
  return m;
}

const norm = (s: string): string => s.trim().toLowerCase().replace(/\.$/, "").replace(/\s+/g, " ");

/**
 * Compares one expected record with what a lookup found (`found`: MX "10 host", TXT joined
 * strings, SRV "prio weight port target", CNAME "host"; [] when nothing). Only records of the same
 * kind count: SPF among TXT records starting with v=spf1, etc.
 */
export function checkRecord(r: DnsRecord, found: string[]): CheckResult {
  if (r.type === "TXT") {
    const prefix = r.value.split(/[;\s]/)[0]!.toLowerCase(); // "v=spf1", "v=dkim1", "v=dmarc1", ...
    const same = found.filter((f) => f.trim().toLowerCase().startsWith(prefix));
    if (same.length === 0) return { status: "missing" };
    const want = tags(r.value);
    const matches = (f: string): boolean => {
      if (prefix === "v=spf1") return norm(f) === norm(r.value);
      if (prefix === "v=dkim1") return tags(f).get("p") === want.get("p");
      if (prefix === "v=stsv1") return tags(f).get("id") === want.get("id");
      return [...want].every(([k, v]) => tags(f).get(k)?.toLowerCase() === v.toLowerCase());
    };
    return same.length === 1 && matches(same[0]!) ? { status: "ok" } : { status: "different", found: same };
  }
  if (found.length === 0) return { status: "missing" };
  if (r.type === "MX") {
    const host = norm(r.value.split(" ")[1]!);
    return found.some((f) => norm(f.split(" ")[1] ?? "") === host) ? { status: "ok" } : { status: "different", found };
  }
  if (r.type === "SRV") {
    const [, , port, target] = r.value.split(" ");
    return found.some((f) => {
      const p = f.split(" ");
      return p[2] === port && norm(p[3] ?? "") === norm(target!);
    })
      ? { status: "ok" }
      : { status: "different", found };
  }
  return found.some((f) => norm(f) === norm(r.value)) ? { status: "ok" } : { status: "different", found };
}
