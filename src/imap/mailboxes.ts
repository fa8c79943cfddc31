// Mailbox names for LIST/LSUB/CREATE/RENAME (RFC 9051 §5.1, §6.3.9): the wildcard matcher, the
// reference + pattern rule, and validation of names a client asks to create.
//
// Invariants:
// - Names here are UTF-8 strings with "/" as the hierarchy delimiter (the store's convention);
//   the session converts from/to modified UTF-7 for IMAP4rev1 clients (encode.ts).
// - Matching is linear in name x pattern (dynamic programming, no regular expressions), so a
//   hostile pattern like "*a*a*a*a*b" cannot make LIST slow.
// - "INBOX" matches case-insensitively, including as the first level of a path (RFC 9051 §5.1).

export const DELIMITER = "/";
/** Longest mailbox name accepted, in UTF-8 octets. */
export const MAX_MAILBOX_NAME = 512;
/** Deepest hierarchy accepted. */
export const MAX_MAILBOX_DEPTH = 32;

/** The pattern LIST matches: reference and mailbox pattern joined (RFC 9051 §6.3.9: the
 * reference is prefixed to the pattern, with one delimiter between them). */
export function listPattern(reference: string, pattern: string): string {
  if (reference === "" || pattern.startsWith(DELIMITER)) return pattern;
  return reference.endsWith(DELIMITER) ? reference + pattern : reference + DELIMITER + pattern;
}

function canonInbox(name: string): string {
  const up = name.slice(0, 5).toUpperCase();
  if (up === "INBOX" && (name.length === 5 || name[5] === DELIMITER)) return "INBOX" + name.slice(5);
  return name;
}

/** A predicate: does a mailbox name match the LIST pattern? "*" matches anything, "%" anything
 * but the hierarchy delimiter (RFC 9051 §6.3.9). */
export function patternMatcher(pattern: string): (name: string) => boolean {
  const p = Array.from(canonInbox(pattern));
  return (nameIn: string) => {
    const n = Array.from(canonInbox(nameIn));
    // prev[j]: p[0..i) matches n[0..j)
    let prev = new Uint8Array(n.length + 1);
    prev[0] = 1;
    for (let i = 0; i < p.length; i++) {
      const cur = new Uint8Array(n.length + 1);
      const pc = p[i]!;
      if (pc === "*" || pc === "%") {
        cur[0] = prev[0]!;
        for (let j = 1; j <= n.length; j++) {
          const canExtend = pc === "*" || n[j - 1] !== DELIMITER;
          cur[j] = prev[j]! || (canExtend && cur[j - 1]!) ? 1 : 0;
        }
      } else {
        for (let j = 1; j <= n.length; j++) cur[j] = prev[j - 1] && n[j - 1] === pc ? 1 : 0;
      }
      prev = cur;
    }
    return prev[n.length] === 1;
  };
}

/** Null when a client may create (or rename to) this name, otherwise the text of a NO/BAD. */
export function checkMailboxName(name: string): string | null {
  if (name.length === 0) return "Empty mailbox name";
  if (Buffer.byteLength(name, "utf8") > MAX_MAILBOX_NAME) return "Mailbox name too long";
  if (/[\x00-\x1f\x7f*%]/.test(name)) return "Mailbox name contains a forbidden character"; // RFC 9051 §5.1: no wildcards, no CTLs
  if (/[\ud800-\udfff]/.test(name) && !/^(?:[^\ud800-\udfff]|[\ud800-\udbff][\udc00-\udfff])*$/.test(name)) return "Invalid UTF-8 in mailbox name";
  if (name.startsWith(DELIMITER) || name.endsWith(DELIMITER) || name.includes(DELIMITER + DELIMITER)) return "Invalid hierarchy in mailbox name";
  const parts = name.split(DELIMITER);
  if (parts.length > MAX_MAILBOX_DEPTH) return "Mailbox hierarchy too deep";
  if (parts.some((p) => p === "." || p === "..")) return "Invalid mailbox name";
  return null;
}

/** Parent names of a mailbox ("a/b/c" -> ["a", "a/b"]), for \HasChildren and implicit parents. */
export function parentsOf(name: string): string[] {
  const parts = name.split(DELIMITER);
  const out: string[] = [];
  for (let i = 1; i < parts.length; i++) out.push(parts.slice(0, i).join(DELIMITER));
  return out;
}
