// Pure normalisation of the names the store keeps: addresses, domains, mailbox names and flags.
//
// Invariants: addresses and domains come out lower-case without a trailing dot; mailbox names use
// "/" as separator, have no empty levels and spell INBOX (and its children) as "INBOX"; flag lists
// have no duplicates (compared case-insensitively), system flags spelled canonically first, then
// keywords in the order first given. Nothing here does I/O.

import { StoreError } from "./types.js";

/** RFC 9051 §2.3.2: the system flags a client may set. (\Recent is gone in IMAP4rev2 and is never stored.) */
export const SYSTEM_FLAGS = ["\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft"] as const;
const SYSTEM_BY_LOWER = new Map<string, string>(SYSTEM_FLAGS.map((f) => [f.toLowerCase(), f]));

// RFC 9051 §9 (formal syntax): flag-keyword = atom; atom-specials are ( ) { SP CTL % * " \ ]
const ATOM_SPECIALS = /[(){ \x00-\x1f\x7f%*"\\\]]/;

export function normaliseDomain(name: string): string {
  if (/[\x00-\x1f\x7f]/.test(name)) throw new StoreError("invalid", `invalid domain name: ${JSON.stringify(name)}`);
  const d = name.trim().toLowerCase().replace(/\.$/, "");
  if (d === "" || d.length > 253 || /[\s@/\\]/.test(d) || d.startsWith(".") || d.includes("..")) {
    throw new StoreError("invalid", `invalid domain name: ${JSON.stringify(name)}`);
  }
  return d;
}

/** Lower-cases `local@domain`; the local part too (see types.ts). */
export function normaliseAddress(address: string): string {
  // Control characters are refused before trimming: "a@b\r\n" is an injection, not padding.
  if (/[\x00-\x1f\x7f]/.test(address)) throw new StoreError("invalid", `invalid address: ${JSON.stringify(address)}`);
  const a = address.trim().toLowerCase();
  const at = a.lastIndexOf("@");
  if (at <= 0 || at === a.length - 1 || a.length > 320 || /[\s\x00-\x1f\x7f]/.test(a)) {
    throw new StoreError("invalid", `invalid address: ${JSON.stringify(address)}`);
  }
  return `${a.slice(0, at)}@${normaliseDomain(a.slice(at + 1))}`;
}

export function domainOf(address: string): string {
  return address.slice(address.lastIndexOf("@") + 1);
}

/** RFC 9051 §5.1: INBOX is case-insensitive; "/" is our hierarchy separator. */
export function normaliseMailboxName(name: string): string {
  if (name === "" || name.length > 1000 || /[\x00-\x1f\x7f]/.test(name)) {
    throw new StoreError("invalid", `invalid mailbox name: ${JSON.stringify(name)}`);
  }
  const parts = name.split("/");
  if (parts.some((p) => p === "")) {
    throw new StoreError("invalid", `invalid mailbox name (empty level): ${JSON.stringify(name)}`);
  }
  if (parts[0]!.toUpperCase() === "INBOX") parts[0] = "INBOX";
  return parts.join("/");
}

/** Checks one flag and returns its canonical spelling (system flags) or itself (keywords). */
export function canonicalFlag(flag: string): string {
  if (flag.startsWith("\\")) {
    const sys = SYSTEM_BY_LOWER.get(flag.toLowerCase());
    if (!sys) throw new StoreError("invalid", `unknown or read-only system flag: ${flag}`);
    return sys;
  }
  if (flag === "" || flag.length > 200 || ATOM_SPECIALS.test(flag) || /[^\x21-\x7e]/.test(flag)) {
    throw new StoreError("invalid", `invalid keyword: ${JSON.stringify(flag)}`);
  }
  return flag;
}

/** Canonical flag list: system flags first in SYSTEM_FLAGS order, then keywords, no duplicates. */
export function normaliseFlags(flags: readonly string[]): string[] {
  const system = new Set<string>();
  const keywords: string[] = [];
  const seenKeywords = new Set<string>();
  for (const f of flags) {
    const c = canonicalFlag(f);
    if (c.startsWith("\\")) system.add(c);
    else if (!seenKeywords.has(c.toLowerCase())) {
      seenKeywords.add(c.toLowerCase());
      keywords.push(c);
    }
  }
  return [...SYSTEM_FLAGS.filter((f) => system.has(f)), ...keywords];
}

/** Applies a STORE operation (RFC 9051 §6.4.6) to a canonical list; returns a canonical list. */
export function applyFlagOp(current: readonly string[], op: "set" | "add" | "remove", flags: readonly string[]): string[] {
  if (op === "set") return normaliseFlags(flags);
  if (op === "add") return normaliseFlags([...current, ...flags]);
  const drop = new Set(flags.map((f) => canonicalFlag(f).toLowerCase()));
  return current.filter((f) => !drop.has(f.toLowerCase()));
}

export function sameFlags(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((f, i) => f === b[i]);
}

/** Stored form: flags joined by one space (flags never contain spaces). */
export function encodeFlags(flags: readonly string[]): string {
  return flags.join(" ");
}

export function decodeFlags(s: string): string[] {
  return s === "" ? [] : s.split(" ");
}
