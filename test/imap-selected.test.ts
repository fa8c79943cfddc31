// Unit tests of the selected-mailbox view (src/imap/session/selected.ts): the sequence-number
// <-> UID map and the untagged-update queue, against a fake store that only delivers events.

import { test } from "node:test";
import assert from "node:assert/strict";
import type { Mailbox, MailboxEvent, Store } from "../src/store/types.js";
import { SelectedMailbox } from "../src/imap/session/selected.js";

function fakeStore(): { store: Store; emit(e: MailboxEvent): void } {
  let listener: ((e: MailboxEvent) => void) | null = null;
  const store = {
    subscribe(_id: number, l: (e: MailboxEvent) => void) {
      listener = l;
      return () => {
        listener = null;
      };
    },
  } as unknown as Store;
  return { store, emit: (e) => listener?.(e) };
}

const MAILBOX: Mailbox = { id: 7, accountId: 1, name: "INBOX", specialUse: null, subscribed: true, uidValidity: 99, uidNext: 11, highestModseq: 10 };

test("EXISTS, FETCH FLAGS and EXPUNGE are announced in order, expunges only when allowed", () => {
  const f = fakeStore();
  const sel = new SelectedMailbox(f.store, MAILBOX, [2, 4, 6], false);
  f.emit({ kind: "expunge", mailboxId: 7, uids: [4], modseq: 11 });
  f.emit({ kind: "exists", mailboxId: 7, uid: 11, modseq: 12 });
  f.emit({ kind: "flags", mailboxId: 7, changes: [{ uid: 6, modseq: 13, flags: ["\\Seen"] }] });

  // During FETCH/STORE/SEARCH (RFC 9051 §7.5.1): EXISTS and flags pass, the expunge waits.
  assert.deepEqual(sel.flush({ allowExpunge: false, qresync: false, condstore: false }), ["* 4 EXISTS\r\n", "* 3 FETCH (FLAGS (\\Seen))\r\n"]);
  assert.deepEqual(sel.uids, [2, 4, 6, 11]);
  assert.equal(sel.hasPending, true);
  assert.deepEqual(sel.flush({ allowExpunge: true, qresync: false, condstore: false }), ["* 2 EXPUNGE\r\n"]);
  assert.deepEqual(sel.uids, [2, 6, 11]);
  assert.equal(sel.seqOf(11), 3);
  assert.equal(sel.seqOf(4), 0);
  sel.close();
});

test("QRESYNC: VANISHED instead of EXPUNGE; CONDSTORE adds UID and MODSEQ to flag updates", () => {
  const f = fakeStore();
  const sel = new SelectedMailbox(f.store, MAILBOX, [1, 2, 3, 4, 5], false);
  f.emit({ kind: "flags", mailboxId: 7, changes: [{ uid: 5, modseq: 20, flags: [] }] });
  f.emit({ kind: "expunge", mailboxId: 7, uids: [2, 3, 4], modseq: 21 });
  assert.deepEqual(sel.flush({ allowExpunge: true, qresync: true, condstore: true }), ["* VANISHED 2:4\r\n", "* 2 FETCH (FLAGS () UID 5 MODSEQ (21))\r\n"]); // wire MODSEQ = store + 1 (session/modseq.ts)
  sel.close();
});

test("own changes are not announced twice; unknown UIDs and duplicate EXISTS are ignored", () => {
  const f = fakeStore();
  const sel = new SelectedMailbox(f.store, MAILBOX, [1, 2], false);
  f.emit({ kind: "flags", mailboxId: 7, changes: [{ uid: 1, modseq: 30, flags: ["\\Flagged"] }, { uid: 2, modseq: 31, flags: ["\\Seen"] }] });
  sel.dropOwn([{ uid: 1, modseq: 30, flags: ["\\Flagged"] }]);
  f.emit({ kind: "exists", mailboxId: 7, uid: 2, modseq: 5 }); // already listed at SELECT
  f.emit({ kind: "expunge", mailboxId: 7, uids: [77], modseq: 32 });
  assert.deepEqual(sel.flush({ allowExpunge: true, qresync: false, condstore: false }), ["* 2 FETCH (FLAGS (\\Seen))\r\n"]);
  // This session's own EXPUNGE: descending numbers keep the later ones valid.
  const g = new SelectedMailbox(f.store, MAILBOX, [1, 2, 3, 4], false);
  assert.deepEqual(g.removeUids([2, 3], false), ["* 3 EXPUNGE\r\n", "* 2 EXPUNGE\r\n"]);
  assert.deepEqual(g.uids, [1, 4]);
  sel.close();
  g.close();
});

test("a deleted mailbox is reported to the session", () => {
  const f = fakeStore();
  const sel = new SelectedMailbox(f.store, MAILBOX, [], false);
  let woke = 0;
  sel.onEvent = () => woke++;
  f.emit({ kind: "deleted", mailboxId: 7 });
  assert.equal(woke, 1);
  sel.flush({ allowExpunge: true, qresync: false, condstore: false });
  assert.equal(sel.deleted, true);
  sel.close();
});

test("a session that lets too many updates pile up is marked for disconnection, memory stays bounded", async () => {
  const { MAX_PENDING_EVENTS } = await import("../src/imap/session/selected.js");
  const f = fakeStore();
  const sel = new SelectedMailbox(f.store, MAILBOX, [1], false);
  for (let i = 0; i <= MAX_PENDING_EVENTS; i++) f.emit({ kind: "flags", mailboxId: 7, changes: [{ uid: 1, modseq: 100 + i, flags: [] }] });
  assert.equal(sel.overflow, true);
  assert.equal(sel.hasPending, true);
  sel.close();
});
