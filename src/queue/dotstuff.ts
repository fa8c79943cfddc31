// Dot-stuffing for DATA (RFC 5321 §4.5.2), chunk by chunk: pure, with the state carried between
// chunks so that a "." at the start of a line is doubled even when the line starts a new chunk.
//
// Invariant: the input is a message in wire form (CRLF line ends); the output, followed by
// `terminator(state)`, is a complete DATA payload ending in CRLF "." CRLF.

export interface StuffState {
  /** The next byte starts a line. */
  atLineStart: boolean;
  /** The last byte written was LF (so the body already ends with a line end). */
  endsWithNewline: boolean;
  /** Nothing written yet. */
  empty: boolean;
}

export const initialStuffState = (): StuffState => ({ atLineStart: true, endsWithNewline: false, empty: true });

/** Returns `chunk` with a "." added before every "." that starts a line. Updates `st`. */
export function dotStuff(chunk: Buffer, st: StuffState): Buffer {
  if (chunk.length === 0) return chunk;
  let extra = 0;
  let atStart = st.atLineStart;
  for (let i = 0; i < chunk.length; i++) {
    const b = chunk[i]!;
    if (atStart && b === 0x2e) extra++;
    atStart = b === 0x0a;
  }
  let out = chunk;
  if (extra > 0) {
    out = Buffer.allocUnsafe(chunk.length + extra);
    let j = 0;
    atStart = st.atLineStart;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (atStart && b === 0x2e) out[j++] = 0x2e; // RFC 5321 §4.5.2: double the leading period
      out[j++] = b;
      atStart = b === 0x0a;
    }
  }
  st.atLineStart = atStart;
  st.endsWithNewline = chunk[chunk.length - 1] === 0x0a;
  st.empty = false;
  return out;
}

/** The end of data: CRLF first if the body did not end with one, then "." CRLF (RFC 5321 §4.1.1.4). */
export function terminator(st: StuffState): Buffer {
  return Buffer.from(st.empty || st.endsWithNewline ? ".\r\n" : "\r\n.\r\n");
}
