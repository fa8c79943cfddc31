// MODSEQ on the wire (RFC 7162). The store counts a mailbox's changes from 0 (a new mailbox has
// HIGHESTMODSEQ 0, its first change gets 1), but an IMAP mod-sequence-value is positive
// (RFC 7162 §7: 1 <= n), and HIGHESTMODSEQ must be below the MODSEQ of every later change. So
// the wire value is the store value plus one, in every direction.
//
// Invariant: every MODSEQ the session sends goes through toWire, every one it receives through
// fromWire (CHANGEDSINCE, UNCHANGEDSINCE, QRESYNC, SEARCH MODSEQ).

export function toWire(storeModseq: number): number {
  return storeModseq + 1;
}

/** A client's value in store terms; 0 (allowed for UNCHANGEDSINCE) becomes -1, below every change. */
export function fromWire(wireModseq: number): number {
  return wireModseq - 1;
}
