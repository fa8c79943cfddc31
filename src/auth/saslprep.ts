// SASLprep (RFC 4013), the stringprep profile for user names and passwords.
//
// Passwords go through this one function before they are hashed (argon2id), before SCRAM keys
// are derived (RFC 5802 §2.2 "Normalize") and before they are verified, so that the two stored
// secrets and every login path agree on the same bytes.
//
// Invariants: pure, no I/O; the result is NFKC-normalised; a string containing a prohibited
// character (RFC 4013 §2.3) or breaking the bidi rule (RFC 3454 §6) is refused with a
// SaslprepError, never silently altered.
//
// Fidelity: the mapping and prohibition tables below are RFC 3454's own (B.1, C.1.2–C.9). Two
// parts are approximations, as in most implementations: NFKC and "unassigned" use the running
// JavaScript engine's Unicode version rather than Unicode 3.2, and the bidi categories (RFC 3454
// D.1 RandALCat / D.2 LCat) are approximated from Unicode script blocks and general categories.

export class SaslprepError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SaslprepError";
  }
}

type Range = readonly [number, number];

// RFC 3454 B.1: commonly mapped to nothing (RFC 4013 §2.1).
const MAPPED_TO_NOTHING: Range[] = [
  [0x00ad, 0x00ad], [0x034f, 0x034f], [0x1806, 0x1806], [0x180b, 0x180d], [0x200b, 0x200d],
  [0x2060, 0x2060], [0xfe00, 0xfe0f], [0xfeff, 0xfeff],
];

// RFC 3454 C.1.2: non-ASCII space characters, mapped to SPACE (RFC 4013 §2.1). U+200B is listed
// in both B.1 and C.1.2; we apply B.1 first (it is a zero-width character), as does Unicode
// today, where U+200B is no longer a space separator.
const NON_ASCII_SPACE: Range[] = [
  [0x00a0, 0x00a0], [0x1680, 0x1680], [0x2000, 0x200a], [0x202f, 0x202f], [0x205f, 0x205f],
  [0x3000, 0x3000],
];

// RFC 4013 §2.3: the prohibited output.
const PROHIBITED: Array<{ table: string; ranges: Range[] }> = [
  { table: "C.1.2 non-ASCII space", ranges: NON_ASCII_SPACE },
  { table: "C.2.1 ASCII control", ranges: [[0x0000, 0x001f], [0x007f, 0x007f]] },
  {
    table: "C.2.2 non-ASCII control",
    ranges: [
      [0x0080, 0x009f], [0x06dd, 0x06dd], [0x070f, 0x070f], [0x180e, 0x180e], [0x200c, 0x200d],
      [0x2028, 0x2029], [0x2060, 0x2063], [0x206a, 0x206f], [0xfeff, 0xfeff], [0xfff9, 0xfffc],
      [0x1d173, 0x1d17a],
    ],
  },
  { table: "C.3 private use", ranges: [[0xe000, 0xf8ff], [0xf0000, 0xffffd], [0x100000, 0x10fffd]] },
  { table: "C.4 non-character", ranges: nonCharacters() },
  { table: "C.5 surrogate", ranges: [[0xd800, 0xdfff]] },
  { table: "C.6 inappropriate for plain text", ranges: [[0xfff9, 0xfffd]] },
  { table: "C.7 inappropriate for canonical representation", ranges: [[0x2ff0, 0x2ffb]] },
  { table: "C.8 change display properties", ranges: [[0x0340, 0x0341], [0x200e, 0x200f], [0x202a, 0x202e], [0x206a, 0x206f]] },
  { table: "C.9 tagging", ranges: [[0xe0001, 0xe0001], [0xe0020, 0xe007f]] },
];

function nonCharacters(): Range[] {
  // RFC 3454 C.4: U+FDD0..U+FDEF and the last two code points of every plane.
  const out: Range[] = [[0xfdd0, 0xfdef]];
  for (let plane = 0; plane <= 0x10; plane++) out.push([plane * 0x10000 + 0xfffe, plane * 0x10000 + 0xffff]);
  return out;
}

function inRanges(cp: number, ranges: readonly Range[]): boolean {
  for (const [lo, hi] of ranges) if (cp >= lo && cp <= hi) return true;
  return false;
}

// Approximation of RFC 3454 D.1 (RandALCat): letters and punctuation of the right-to-left
// scripts (Hebrew, Arabic, Syriac, Thaana, NKo, ... and their presentation forms).
const RTL_BLOCKS: Range[] = [
  [0x0590, 0x08ff], [0xfb1d, 0xfdff], [0xfe70, 0xfefe], [0x10800, 0x10fff], [0x1e800, 0x1efff],
];
const MARK_OR_NUMBER = /^[\p{M}\p{N}]$/u;
const LETTER = /^\p{L}$/u;
const UNASSIGNED = /^\p{Cn}$/u;

function isRandAL(ch: string, cp: number): boolean {
  return inRanges(cp, RTL_BLOCKS) && !MARK_OR_NUMBER.test(ch);
}

// Approximation of RFC 3454 D.2 (LCat): letters outside the right-to-left blocks.
function isL(ch: string, cp: number): boolean {
  return LETTER.test(ch) && !inRanges(cp, RTL_BLOCKS);
}

function describe(cp: number): string {
  return "U+" + cp.toString(16).toUpperCase().padStart(4, "0");
}

/**
 * Prepares `input` per RFC 4013. `storedString` selects the rule for strings that are stored
 * (setting a password): unassigned code points are then refused too (RFC 3454 §7); for queries
 * (a login attempt) they are allowed.
 */
export function saslprep(input: string, opts: { storedString?: boolean } = {}): string {
  // RFC 4013 §2.1: mapping.
  let mapped = "";
  for (const ch of input) {
    const cp = ch.codePointAt(0)!;
    if (inRanges(cp, MAPPED_TO_NOTHING)) continue;
    mapped += inRanges(cp, NON_ASCII_SPACE) ? " " : ch;
  }
  // RFC 4013 §2.2: normalisation form KC.
  const normalized = mapped.normalize("NFKC");

  // RFC 4013 §2.3: prohibited output; §2.5 / RFC 3454 §7: unassigned code points.
  let hasRandAL = false;
  let hasL = false;
  const chars = [...normalized];
  for (const ch of chars) {
    const cp = ch.codePointAt(0)!;
    for (const p of PROHIBITED) {
      if (inRanges(cp, p.ranges)) throw new SaslprepError(`prohibited character ${describe(cp)} (RFC 3454 ${p.table})`);
    }
    if (opts.storedString && UNASSIGNED.test(ch)) throw new SaslprepError(`unassigned code point ${describe(cp)}`);
    if (isRandAL(ch, cp)) hasRandAL = true;
    else if (isL(ch, cp)) hasL = true;
  }

  // RFC 4013 §2.4 / RFC 3454 §6: bidirectional characters.
  if (hasRandAL) {
    if (hasL) throw new SaslprepError("mixes right-to-left and left-to-right characters (RFC 3454 §6)");
    const first = chars[0]!;
    const last = chars[chars.length - 1]!;
    if (!isRandAL(first, first.codePointAt(0)!) || !isRandAL(last, last.codePointAt(0)!)) {
      throw new SaslprepError("right-to-left text must start and end with a right-to-left character (RFC 3454 §6)");
    }
  }
  return normalized;
}
