// The POP3 session states (RFC 1939 §3) as a discriminated union that carries its own data:
// a TRANSACTION state cannot exist without its account, the maildrop snapshot and the lock.
//
// Invariants of TransactionState: `messages` is the snapshot of INBOX taken when the state was
// entered (message numbers are indexes + 1 and never change during the session, RFC 1939 §5);
// `liveCount`/`liveSize` always equal the number and total size of messages not marked deleted;
// deletion marks only change in this session's memory until QUIT moves to UPDATE.

import type { Account, Mailbox, MessageSummary } from "../store/types.js";

export interface MaildropEntry {
  meta: MessageSummary;
  /** RFC 1939 §7 UIDL: "uidValidity.uid", printable ASCII, unique and stable per account. */
  uidl: string;
  deleted: boolean;
}

export interface AuthorizationState {
  kind: "authorization";
  /** The name given by USER, waiting for PASS (RFC 1939 §7). */
  user: string | null;
}

export interface TransactionState {
  kind: "transaction";
  account: Account;
  inbox: Mailbox;
  messages: MaildropEntry[];
  liveCount: number;
  liveSize: number;
  /** Releases the maildrop lock. */
  release: () => void;
}

export interface UpdateState {
  kind: "update";
  account: Account;
  inbox: Mailbox;
  /** UIDs to remove from INBOX (RFC 1939 §6). */
  deleteUids: number[];
  release: () => void;
}

export type State = AuthorizationState | TransactionState | UpdateState;
export type StateKind = State["kind"];
export type StateOf<K extends StateKind> = Extract<State, { kind: K }>;

/** RFC 1939 §7: the unique-id listing. UIDVALIDITY and UID are decimal, so the id is digits and one
 * dot (printable 0x21-0x7E) and at most 21 characters (the limit is 70). */
export function uidlOf(inbox: Pick<Mailbox, "uidValidity">, meta: Pick<MessageSummary, "uid">): string {
  return `${inbox.uidValidity}.${meta.uid}`;
}

export function enterTransaction(o: { account: Account; inbox: Mailbox; messages: readonly MessageSummary[]; release: () => void }): TransactionState {
  let liveSize = 0;
  const messages = o.messages.map((meta) => {
    liveSize += meta.size;
    return { meta, uidl: uidlOf(o.inbox, meta), deleted: false };
  });
  return { kind: "transaction", account: o.account, inbox: o.inbox, messages, liveCount: messages.length, liveSize, release: o.release };
}
