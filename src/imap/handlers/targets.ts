// Which messages a sequence set names in the selected mailbox: message sequence numbers or UIDs
// (RFC 9051 §6.4.9), "$" for the saved search result (RFC 5182 §2.1). Always returns UIDs.
import type { SequenceSet } from "../sequence.js";
import { resolveSequence, resolveUids } from "../sequence.js";
import type { ImapSession } from "../session/session.js";

export function targetUids(s: ImapSession, set: SequenceSet, uid: boolean): number[] {
  const sel = s.selected!;
  if (uid) return resolveUids(set, sel.uids, { saved: s.savedUids });
  const savedSeqs = s.savedUids.map((u) => sel.seqOf(u)).filter((n) => n > 0);
  return resolveSequence(set, sel.exists, savedSeqs).map((n) => sel.uids[n - 1]!);
}
