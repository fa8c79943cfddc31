// Message flags (RFC 9051 §2.3.2): canonical spelling of system flags, validation of flags a
// client asks to set (STORE, APPEND), and the flag lists of FETCH FLAGS / FLAGS / PERMANENTFLAGS.
//
// Invariants:
// - System flags are spelled canonically ("\seen" becomes "\Seen"); keywords keep the client's
//   spelling; a list never holds the same flag twice (compared case-insensitively).
// - \Recent is never settable by a client (RFC 3501 §2.3.2), and unknown "\" flags are refused
//   (RFC 9051 §2.3.2 flag-extension is reserved for future standards).

import { isAtom } from "./encode.js";

export const SYSTEM_FLAGS = ["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"] as const;
const CANONICAL = new Map<string, string>(SYSTEM_FLAGS.map((f) => [f.toLowerCase(), f]));

/** Canonical spelling, case-insensitive de-duplication, order kept. */
export function normaliseFlags(flags: readonly string[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const f of flags) {
    const canon = CANONICAL.get(f.toLowerCase()) ?? f;
    const key = canon.toLowerCase();
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(canon);
  }
  return out;
}

/** Null when every flag may be set by a client, otherwise the text of a BAD. */
export function checkSettableFlags(flags: readonly string[]): string | null {
  for (const f of flags) {
    if (f.startsWith("\\")) {
      if (f.toLowerCase() === "\\recent") return "\\Recent cannot be set"; // RFC 3501 §2.3.2
      if (!CANONICAL.has(f.toLowerCase())) return `Unknown system flag ${f.slice(0, 40)}`;
    } else if (!isAtom(f)) return "Invalid keyword";
  }
  return null;
}

/** `(\Seen $Label)` for FETCH FLAGS and the FLAGS response (RFC 9051 §7.3.5). */
export function renderFlagList(flags: readonly string[]): string {
  return "(" + flags.join(" ") + ")";
}

/** PERMANENTFLAGS: the system flags, the keywords in use, and \* (new keywords may be
 * created) (RFC 9051 §7.1). */
export function renderPermanentFlags(keywords: readonly string[]): string {
  return "(" + [...SYSTEM_FLAGS, ...normaliseFlags(keywords).filter((k) => !k.startsWith("\\")), "\\*"].join(" ") + ")";
}
