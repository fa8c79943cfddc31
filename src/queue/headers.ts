// The little header reading the queue needs: the domain of the From: address (for choosing the
// DKIM signing domain, RFC 7489 §3.1 alignment). Pure.
//
// Invariant: returns null rather than guessing when From: is missing, repeated or unparsable.

/** The domain of the single From: address in a header section, lower-cased, or null. */
export function fromDomain(head: Buffer | string): string | null {
  const text = typeof head === "string" ? head : head.toString("utf8");
  const end = text.search(/\r?\n\r?\n/);
  const section = end >= 0 ? text.slice(0, end) : text;
  const unfolded = section.replace(/\r?\n[ \t]/g, " "); // RFC 5322 §2.2.3
  const from = unfolded.split(/\r?\n/).filter((l) => /^from\s*:/i.test(l));
  if (from.length !== 1) return null;
  const value = from[0]!.replace(/^from\s*:/i, "").replace(/\([^()]*\)/g, " ");
  const angle = /<([^<>]*)>/.exec(value);
  const addr = (angle ? angle[1]! : value).trim();
  const m = /@([^\s@<>",;]+)$/.exec(addr);
  return m ? m[1]!.toLowerCase().replace(/\.$/, "") : null;
}
