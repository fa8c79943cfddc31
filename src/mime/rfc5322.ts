// Small lexical helpers of the RFC 5322 header grammar, shared by the SMTP header checks and the
// inbound authentication checks. Pure functions on strings.

/**
 * RFC 5322 §3.2.2: `value[start]` is "(" of a comment, which may nest and contain quoted-pairs.
 * Returns the index just past its closing ")", or -1 when the comment is unterminated.
 */
export function skipComment(value: string, start: number): number {
  let i = start;
  let depth = 0;
  while (i < value.length) {
    const c = value[i]!;
    if (c === "\\") i++;
    else if (c === "(") depth++;
    else if (c === ")" && --depth === 0) return i + 1;
    i++;
  }
  return -1;
}
