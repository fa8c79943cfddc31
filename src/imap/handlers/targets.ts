// Which messages a sequence set names in the selected mailbox: message sequence numbers or UIDs
// (RFC 9051 §6.4.9), "$" for the saved search result (RFC 5182 §2.1). Always returns UIDs.
import type { SequenceSet } from "../sequence.js";
import { exceeds, resolveSequence, resolveUids } from "../sequence.js";
import { bad } from "../session/errors.js";
import type { ImapSession } from "../session/session.js";

export function targetUids(s: ImapSession, set: SequenceSet, uid: boolean): number[] {
  const sel = s.selected!;
  if (uid) return resolveUids(set, sel.uids, { saved: s.savedUids });
  // RFC 9051 §9 seq-number: a number above the messages the client knows of is an error (UIDs
  // that do not exist are simply skipped, RFC 9051 §6.4.9).
  if (exceeds(set, sel.exists)) throw bad("Invalid message sequence number");
  if (sel.exists === 0 && set.kind === "set") throw bad("No messages in the mailbox");
  const savedSeqs = s.savedUids.map((u) => sel.seqOf(u)).filter((n) => n > 0);
  return resolveSequence(set, sel.exists, savedSeqs).map((n) => sel.uids[n - 1]!);
}
