// Resolving a "msg" argument (RFC 1939 §5) against the TRANSACTION snapshot, shared by LIST,
// RETR, DELE, TOP and UIDL. Invariant: a number outside 1..n or naming a message marked as
// deleted is refused ("may NOT refer to a message marked as deleted", RFC 1939 §5).

import { Pop3Error, R } from "../errors.js";
import { parseMessageNumber } from "../parse.js";
import type { MaildropEntry, TransactionState } from "../state.js";

export function messageArg(state: TransactionState, arg: string): { n: number; entry: MaildropEntry } {
  const n = parseMessageNumber(arg);
  if (n === null) throw new Pop3Error("-ERR invalid message number");
  const entry = state.messages[n - 1];
  if (!entry) throw new Pop3Error(`${R.noSuchMessage}, only ${state.messages.length} messages in maildrop`);
  if (entry.deleted) throw new Pop3Error(`-ERR message ${n} already deleted`);
  return { n, entry };
}
