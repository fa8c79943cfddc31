// Inbound mail authentication on the MX listener (threat model §3, "mail that fakes the server's
// domains"): SPF (RFC 7208), DKIM (RFC 6376), ARC (RFC 8617, reported only) and DMARC (RFC 7489)
// through the `mailauth` package, the policy decision that follows (deliver, file to Junk, refuse)
// and the Authentication-Results header field (RFC 8601) that records it.
//
// Invariants:
// - The message is read as a stream (DKIM body hashes are computed while reading; no body is held
//   whole in memory); a verification that takes longer than `timeoutMs` is abandoned and reported
//   as VerifyTimeout (the caller answers 451: the sender retries, nothing is delivered unchecked).
// - Our own domains (and their subdomains) are never weaker than p=quarantine: when such a domain
//   publishes no usable DMARC record (or DNS fails), the lookup answers a synthetic
//   "v=DMARC1; p=quarantine" so that mail claiming it in From: must pass SPF or DKIM *aligned with
//   it* to reach INBOX; a published p=none is raised to quarantine for the same reason. Published
//   p=reject stays reject.
// - Every From: domain is evaluated; the strictest outcome wins (RFC 7489 §6.6.1). More than one
//   From: header field is refused outright (RFC 5322 §3.6 allows one; RFC 7489 §6.6.1).
// - The header we write never contains CR/LF or control characters taken from the message or the
//   envelope, and no line is longer than ~100 octets plus one unbreakable token.
// - Pure helpers (decide, authservIdOf, stripOwnAuthResults, formatAuthResults) do no I/O.

import type { Readable } from "node:stream";
import { authenticate, dmarc as dmarcCheck, type AuthenticateResult, type DMARCResult, type DNSResolver } from "mailauth";
import type { DnsLookup } from "./resolver.js";
import { skipComment } from "../mime/rfc5322.js";

export type DmarcPolicy = "none" | "quarantine" | "reject";

/** The SMTP facts of the transaction being checked. */
export interface Envelope {
  /** Client IP address as seen by the server. */
  ip: string;
  /** The EHLO/HELO argument (already validated by the SMTP parser). */
  helo: string;
  /** MAIL FROM reverse-path; "" for the null sender (SPF then checks postmaster@helo, RFC 7208 §2.4). */
  sender: string;
}

export interface VerifyOptions {
  /** Our authserv-id (RFC 8601 §2.5): the server's host name. */
  authservId: string;
  /** Our domains, lower-case. */
  localDomains: ReadonlySet<string>;
  lookup: DnsLookup;
  /** false: a DMARC p=reject failure is filed to Junk instead of being refused. */
  dmarcReject: boolean;
  /** For pct= sampling (RFC 7489 §6.6.4); default Math.random. */
  random?: () => number;
  /** Deadline for the whole verification; default 30 s. */
  timeoutMs?: number;
}

export type Disposition = { action: "inbox" } | { action: "junk"; reason: string } | { action: "reject"; reason: string };

/** The DMARC evaluation of one From: domain. */
export interface DomainEvaluation {
  domain: string;
  /** pass, fail, none, temperror, permerror */
  result: string;
  /** The policy the domain published (p=, or sp= for a subdomain), or null without a record. */
  published: DmarcPolicy | null;
  /** pct= (0–100), 100 when absent. */
  pct: number;
  /** One of our domains (or a subdomain of one). */
  local: boolean;
  /** No usable record was published: our own-domain policy (quarantine) was applied. */
  synthesized: boolean;
}

export interface InboundVerdict {
  disposition: Disposition;
  /** "Authentication-Results: …\r\n" (RFC 8601), to be written above the message's header. */
  header: string;
  /** Short results for the audit log. */
  spf: string;
  dkim: string[];
  dmarc: string;
  arc: string;
  from: DomainEvaluation[];
}

/** The verification did not finish in time. */
export class VerifyTimeout extends Error {
  constructor(ms: number) {
    super(`mail authentication did not finish within ${ms} ms`);
    this.name = "VerifyTimeout";
  }
}

/** What our own domains are held to when they publish nothing usable (threat model §3). */
const OWN_DOMAIN_RECORD = "v=DMARC1; p=quarantine";
const DEFAULT_TIMEOUT_MS = 30_000;

/** `domain` is one of `local` or a subdomain of one. */
export function isLocalDomain(domain: string, local: ReadonlySet<string>): boolean {
  const d = domain.toLowerCase().replace(/\.$/, "");
  if (local.has(d)) return true;
  for (const l of local) if (d.endsWith(`.${l}`)) return true;
  return false;
}

/** A DMARC p=/sp= value, or null when it is not one of the three (RFC 7489 §6.3). */
function policyOf(v: unknown): DmarcPolicy | null {
  const s = typeof v === "string" ? v.trim().toLowerCase() : "";
  return s === "none" || s === "quarantine" || s === "reject" ? s : null;
}

const RANK: Record<DmarcPolicy, number> = { none: 0, quarantine: 1, reject: 2 };
const stricter = (a: DmarcPolicy, b: DmarcPolicy): DmarcPolicy => (RANK[a] >= RANK[b] ? a : b);

/**
 * The policy decision for a message, from the DMARC evaluation of each From: domain.
 * RFC 7489 §6.6.2 step 6 / §6.7: a failing message gets the domain's policy; pct= below 100
 * applies it to that share of messages and the next weaker policy to the rest (§6.6.4). Our own
 * domains never get less than quarantine. The strictest outcome over all domains wins (§6.6.1).
 */
export function decide(evals: readonly DomainEvaluation[], o: { dmarcReject: boolean; multipleFrom: boolean; random: () => number }): Disposition {
  if (o.multipleFrom) return { action: "reject", reason: "more than one From: header field (RFC 5322 §3.6)" };
  let worst: { policy: DmarcPolicy; e: DomainEvaluation } | null = null;
  for (const e of evals) {
    if (e.result !== "fail") continue;
    let p: DmarcPolicy = e.published ?? "none";
    if (e.pct < 100 && o.random() * 100 >= e.pct) p = p === "reject" ? "quarantine" : "none"; // RFC 7489 §6.6.4
    if (e.local) p = stricter(p, "quarantine");
    if (!worst || RANK[p] > RANK[worst.policy]) worst = { policy: p, e };
  }
  if (!worst || worst.policy === "none") return { action: "inbox" };
  const why = `dmarc=fail for ${worst.e.domain} (policy ${worst.policy}${worst.e.synthesized ? ", our own domain without a published DMARC record" : ""})`;
  if (worst.policy === "reject" && o.dmarcReject) return { action: "reject", reason: why };
  return { action: "junk", reason: why };
}

/** Text safe inside an RFC 8601 comment: no control characters, parentheses and "\" escaped. */
export function commentText(s: string): string {
  return s
    .replace(/[\x00-\x1f\x7f]+/g, " ")
    .replace(/\s+/g, " ")
    .trim()
    .replace(/[\\()]/g, (c) => `\\${c}`);
}

/** An RFC 2045 token, or a quoted-string (RFC 8601 §2.2 "value"). */
export function propValue(s: string): string {
  const v = s.replace(/[\x00-\x1f\x7f]+/g, " ").replace(/\s+/g, " ").trim();
  if (v !== "" && !/[\s()<>,;:\\"/[\]?=\x80-\uffff]/.test(v)) return v;
  return `"${v.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/** A resinfo row from mailauth, made safe: control characters become spaces (its escaping does not
 * cover every character a hostile header could carry). */
function safeRow(row: string): string {
  return row.replace(/[\x00-\x1f\x7f]+/g, " ").replace(/\s+/g, " ").trim();
}

/** Folds one resinfo at spaces so that lines stay short (RFC 5322 §2.1.1, §2.2.3). */
function foldRow(row: string, width = 100): string {
  const words = row.split(" ");
  const lines: string[] = [];
  let cur = "";
  for (const w of words) {
    if (cur !== "" && cur.length + 1 + w.length > width) {
      lines.push(cur);
      cur = w;
    } else cur = cur === "" ? w : `${cur} ${w}`;
  }
  if (cur !== "") lines.push(cur);
  return lines.join("\r\n\t  ");
}

/** RFC 8601 §2.2: "Authentication-Results:" authserv-id *( ";" resinfo ), one resinfo per line. */
export function formatAuthResults(authservId: string, rows: readonly string[]): string {
  const head = `Authentication-Results: ${authservId}`;
  if (rows.length === 0) return `${head}; none\r\n`; // RFC 8601 §2.2 no-result
  return `${head};\r\n\t` + rows.map((r) => foldRow(safeRow(r))).join(";\r\n\t") + "\r\n";
}

/** The dmarc resinfo for one evaluation (RFC 7489 §11.2: ptype "header", property "from"). */
export function dmarcRow(e: DomainEvaluation, arc: string | null): string {
  const notes: string[] = [];
  if (e.published) notes.push(`p=${e.published.toUpperCase()}`);
  else if (e.synthesized) notes.push("p=QUARANTINE");
  if (e.pct < 100) notes.push(`pct=${e.pct}`);
  if (arc) notes.push(`arc=${arc}`);
  if (e.synthesized) notes.push("local policy: no DMARC record published for our own domain");
  else if (e.local && e.result === "fail" && e.published !== "reject" && e.published !== "quarantine") {
    notes.push("local policy: our own domain is held to quarantine");
  }
  const comment = notes.length > 0 ? ` (${commentText(notes.join("; "))})` : "";
  return `dmarc=${e.result}${comment} header.from=${propValue(e.domain)}`;
}

/**
 * RFC 8601 §2.2 / §2.5: the authserv-id of an Authentication-Results field value, lower-case,
 * or null when the value does not start with one. Leading CFWS (comments, nested) is skipped.
 */
export function authservIdOf(value: string): string | null {
  let i = 0;
  const skipCfws = (): boolean => {
    for (;;) {
      while (i < value.length && /\s/.test(value[i]!)) i++;
      if (value[i] !== "(") return true;
      i = skipComment(value, i);
      if (i < 0) return false; // unterminated comment
    }
  };
  if (!skipCfws()) return null;
  let id = "";
  if (value[i] === '"') {
    i++;
    while (i < value.length && value[i] !== '"') {
      if (value[i] === "\\") i++;
      id += value[i] ?? "";
      i++;
    }
    if (i >= value.length) return null;
  } else {
    const m = /^[^\s;()]+/.exec(value.slice(i));
    if (!m) return null;
    id = m[0];
  }
  id = id.trim().toLowerCase().replace(/\.$/, "");
  return id === "" ? null : id;
}

/**
 * RFC 8601 §5: removes every Authentication-Results field that claims our authserv-id from a raw
 * header section (as received, through the empty line). Other fields are kept byte for byte.
 */
export function stripOwnAuthResults(header: Buffer, authservId: string): { header: Buffer; removed: number } {
  const ours = authservId.toLowerCase().replace(/\.$/, "");
  const text = header.toString("latin1"); // byte-preserving
  const lines = text.match(/[^\n]*\n|[^\n]+$/g) ?? [];
  const groups: string[] = [];
  for (const line of lines) {
    const isCont = (line[0] === " " || line[0] === "\t") && groups.length > 0 && !/^\r?\n$/.test(groups[groups.length - 1]!);
    if (isCont) groups[groups.length - 1] += line;
    else groups.push(line);
  }
  let removed = 0;
  const kept = groups.filter((g) => {
    const m = /^([\x21-\x39\x3b-\x7e]+)[ \t]*:/.exec(g);
    if (!m || m[1]!.toLowerCase() !== "authentication-results") return true;
    const value = g.slice(m[0].length).replace(/\r?\n/g, "");
    const id = authservIdOf(Buffer.from(value, "latin1").toString("utf8"));
    if (id !== ours) return true;
    removed++;
    return false;
  });
  return removed === 0 ? { header, removed } : { header: Buffer.from(kept.join(""), "latin1"), removed };
}

/** Wraps the DNS lookup: `_dmarc.<our domain>` TXT without exactly one usable record (or with a
 * DNS failure) answers OWN_DOMAIN_RECORD, and the domain is noted in `synthesized`. */
function withOwnDomainPolicy(lookup: DnsLookup, local: ReadonlySet<string>, synthesized: Set<string>): DNSResolver {
  return async (name, rrtype) => {
    const n = name.toLowerCase().replace(/\.$/, "");
    if (rrtype.toUpperCase() === "TXT" && n.startsWith("_dmarc.") && isLocalDomain(n.slice(7), local)) {
      let answer: string[][] = [];
      try {
        answer = (await lookup(name, rrtype)) as string[][];
      } catch {
        // NXDOMAIN, no TXT, or a DNS failure: our own policy applies either way.
      }
      const usable = answer.filter((r) => /^v=DMARC1\s*(;|$)/i.test(r.join("").trim()));
      if (usable.length === 1 && policyOf(/(?:^|;)\s*p=([^;]*)/i.exec(usable[0]!.join(""))?.[1]) !== null) return answer;
      synthesized.add(n.slice(7));
      return [[OWN_DOMAIN_RECORD]];
    }
    return (await lookup(name, rrtype)) as string[][] | string[];
  };
}

/**
 * RFC 7489 §3.1.1 / §3.1.2: with adkim=s / aspf=s the authenticated domain must equal the From:
 * domain exactly. mailauth 4 applies relaxed (organizational-domain) alignment either way, so a
 * "pass" is re-checked here; its relaxed verdict is kept for the relaxed modes.
 */
function strictAlignment(r: DMARCResult, domain: string, spfDomains: string[], dkimDomains: Array<{ domain: string }>): string {
  if (r.status.result !== "pass") return r.status.result;
  const same = (d: string) => d.toLowerCase().replace(/\.$/, "") === domain;
  const spfOk = Boolean(r.alignment.spf.result) && (!r.alignment.spf.strict || spfDomains.some(same));
  const dkimOk = Boolean(r.alignment.dkim.result) && (!r.alignment.dkim.strict || dkimDomains.some((d) => same(d.domain)));
  return spfOk || dkimOk ? "pass" : "fail";
}

/** Lower-case domain of an address ("" when it has none). */
function domainOf(address: string): string {
  const at = address.lastIndexOf("@");
  return at < 0 ? "" : address.slice(at + 1).trim().toLowerCase().replace(/\.$/, "");
}

/**
 * Checks SPF, DKIM, ARC and DMARC for one inbound message and decides what happens to it.
 * `message` is the message exactly as received (none of our trace fields); a stream is consumed.
 */
export async function verifyInbound(message: Readable | Buffer, env: Envelope, o: VerifyOptions): Promise<InboundVerdict> {
  const timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new VerifyTimeout(timeoutMs)), timeoutMs);
  });
  try {
    return await Promise.race([run(message, env, o), deadline]);
  } catch (e) {
    if (e instanceof VerifyTimeout && !Buffer.isBuffer(message)) message.destroy();
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

async function run(message: Readable | Buffer, env: Envelope, o: VerifyOptions): Promise<InboundVerdict> {
  const synthesized = new Set<string>();
  const resolver = withOwnDomainPolicy(o.lookup, o.localDomains, synthesized);
  const auth: AuthenticateResult = await authenticate(message, {
    ip: env.ip,
    helo: env.helo,
    sender: env.sender, // "" → postmaster@helo (RFC 7208 §2.4)
    mta: o.authservId,
    resolver,
    disableDmarc: true, // evaluated below, per From: domain
    disableBimi: true,
  });

  // RFC 6376 §6.1.3: a body hash mismatch is PERMFAIL, which RFC 8601 §2.7.1 reports as "fail"
  // (mailauth says "neutral").
  for (const r of auth.dkim.results ?? []) {
    if (r.status.result === "neutral" && r.status.comment === "body hash did not verify") {
      r.status.result = "fail";
      r.info = r.info.replace(/^dkim=neutral\b/, "dkim=fail");
    }
  }
  const fromFields = auth.dkim.headers?.parsed.filter((h) => h.key === "from").length ?? 0;
  const domains = [...new Set(auth.dkim.headerFrom.map(domainOf).filter((d) => d !== ""))];
  const spfResult = auth.spf ? auth.spf.status.result : "none";
  const spfDomains = auth.spf && auth.spf.status.result === "pass" && auth.spf.domain ? [auth.spf.domain] : [];
  const dkimDomains = (auth.dkim.results ?? [])
    .filter((r) => r.status.result === "pass")
    .map((r) => ({ id: r.id, domain: r.signingDomain, underSized: r.status.underSized }));
  const arc = auth.arc ? auth.arc.status.result : "none";

  const evals: DomainEvaluation[] = [];
  for (const domain of domains) {
    const r = (await dmarcCheck({ headerFrom: domain, spfDomains, dkimDomains, resolver, ...(auth.arc ? { arcResult: auth.arc } : {}) })) as DMARCResult | false;
    const local = isLocalDomain(domain, o.localDomains);
    const synth = local && synthesized.has(domain); // a local domain's own lookup always answers (see withOwnDomainPolicy)
    const pctRaw = r ? Number(r.pct ?? 100) : 100;
    evals.push({
      domain,
      result: r ? strictAlignment(r, domain, spfDomains, dkimDomains) : "none",
      published: r && !synth ? policyOf(r.policy) : null,
      pct: Number.isFinite(pctRaw) ? Math.min(100, Math.max(0, Math.trunc(pctRaw))) : 100,
      local,
      synthesized: synth,
    });
  }

  const rows: string[] = [];
  for (const r of auth.dkim.results ?? []) rows.push(r.info);
  if (auth.spf) rows.push(auth.spf.info);
  if (auth.arc && auth.arc.info) rows.push(auth.arc.info);
  if (evals.length === 0) rows.push(`dmarc=none (${commentText(fromFields === 0 ? "no From: header field" : "no domain in From:")})`);
  for (const e of evals) rows.push(dmarcRow(e, auth.arc ? arc : null));

  const disposition = decide(evals, { dmarcReject: o.dmarcReject, multipleFrom: fromFields > 1, random: o.random ?? Math.random });
  return {
    disposition,
    header: formatAuthResults(o.authservId, rows),
    spf: spfResult,
    dkim: (auth.dkim.results ?? []).map((r) => `${r.status.result}${r.signingDomain ? `:${r.signingDomain}` : ""}`),
    dmarc: evals.map((e) => `${e.result}:${e.domain}`).join(",") || "none",
    arc,
    from: evals,
  };
}
