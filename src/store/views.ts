// Listings of mailboxes shared by all sessions of one server (UID, id, flags, MODSEQ, size,
// internal date of every message, without stored structures), kept up to date from the store's
// mailbox events, so IMAP SELECT, SEARCH and flag-only FETCH, and POP3 login, do not re-read every
// row of a mailbox each time. Protocol-neutral: it works over any Store, through its interface
// only (listSummaries, getMessages, mailboxStatus, subscribe); one instance per store
// (mailboxViews()).
//
// Invariants:
// - A listing is handed out only when it is current: its MODSEQ equals the mailbox's
//   HIGHESTMODSEQ read just before, its length equals the message count, and no new message
//   announced by an event is waiting to be read. Every change to a mailbox takes a new MODSEQ
//   (store/types.ts, RFC 7162 §3.1), so equal MODSEQs mean the same state. Otherwise the listing
//   is rebuilt from Store.listSummaries, which reads the rows and the mailbox's HIGHESTMODSEQ at
//   one moment. A change made by another process (no event here) is therefore never missed.
// - Events carrying a MODSEQ at or below the one of the listing (or of the entry they change) are
//   already reflected in it and are ignored: events may arrive after a rebuild that saw them.
// - A handed-out `messages` array is never modified afterwards (changes make a new array), so a
//   command may keep using it across awaits. Entries and their flag arrays are never mutated.
// - Memory is bounded: at most MAX_CACHED_MESSAGES entries over all listings (least recently
//   used listings are dropped, their subscriptions released); a larger mailbox is listed afresh.

import type { Id, MailboxEvent, MailboxSnapshot, MailboxStatus, MessageSummary, Store } from "./types.js";

/** Entries kept over all cached listings (about 110 bytes each: the entry, its Date, a slot). */
export const MAX_CACHED_MESSAGES = 300_000;

/** One mailbox as of `status.highestModseq`. */
export interface MailboxListing {
  status: MailboxStatus;
  /** Ascending UID. Never modified: hold on to it freely. */
  messages: readonly MessageSummary[];
  /** The UIDs of `messages`, same order. Never modified: copy before changing. */
  uids: readonly number[];
  /** Keywords (non-system flags) present on some message, and the sequence number of the first
   * message without \Seen (0 if none): what SELECT announces. */
  keywords: readonly string[];
  firstUnseen: number;
}

function binarySearch(list: readonly MessageSummary[], uid: number): number {
  let lo = 0;
  let hi = list.length - 1;
  while (lo <= hi) {
    const m = (lo + hi) >> 1;
    const v = list[m]!.uid;
    if (v === uid) return m;
    if (v < uid) lo = m + 1;
    else hi = m - 1;
  }
  return -(lo + 1);
}

class Entry {
  messages: MessageSummary[] = [];
  /** MODSEQ of the state `messages` reflects (plus announced new messages in `fresh`). */
  modseq = -1;
  /** UIDs announced by "exists" events, not read yet. */
  fresh = new Set<number>();
  /** Derived values for the current `messages`, computed on demand. */
  derived: Omit<MailboxListing, "status" | "messages"> | null = null;
  unsubscribe: (() => void) | null = null;
  /** Set when the mailbox was deleted. */
  dead = false;
  /** While rows are being read, events wait here and are applied after the rows (which may be
   * older than them). */
  private backlog: MailboxEvent[] | null = null;
  private refreshing: Promise<void> | null = null;

  onEvent(e: MailboxEvent): void {
    if (this.backlog) this.backlog.push(e);
    else this.apply(e);
  }

  /** Runs a read of rows with events held back, then applies the held events. */
  async reading<T>(read: () => Promise<T>, use: (v: T) => void): Promise<void> {
    this.backlog = [];
    try {
      use(await read());
    } finally {
      const held = this.backlog;
      this.backlog = null;
      for (const e of held) this.apply(e);
    }
  }

  private apply(e: MailboxEvent): void {
    switch (e.kind) {
      case "exists":
        if (e.modseq <= this.modseq) return;
        this.modseq = e.modseq;
        if (binarySearch(this.messages, e.uid) < 0) this.fresh.add(e.uid);
        return;
      case "flags": {
        let next: MessageSummary[] | null = null;
        for (const c of e.changes) {
          if (c.modseq > this.modseq) this.modseq = c.modseq;
          const list = next ?? this.messages;
          const i = binarySearch(list, c.uid);
          if (i < 0 || list[i]!.modseq >= c.modseq) continue;
          next ??= this.messages.slice();
          const m = next[i]!;
          next[i] = { id: m.id, mailboxId: m.mailboxId, uid: m.uid, modseq: c.modseq, flags: c.flags, internalDate: m.internalDate, size: m.size };
        }
        if (next) this.replace(next);
        return;
      }
      case "expunge": {
        if (e.modseq <= this.modseq) return;
        this.modseq = e.modseq;
        const gone = new Set(e.uids);
        for (const u of e.uids) this.fresh.delete(u);
        if (this.messages.some((m) => gone.has(m.uid))) this.replace(this.messages.filter((m) => !gone.has(m.uid)));
        return;
      }
      case "deleted":
        this.dead = true;
        return;
    }
  }

  /** Reads the messages announced by events (one query); concurrent callers share the read. */
  readFresh(store: Store, mailboxId: Id): Promise<void> {
    this.refreshing ??= this.reading(
      () => {
        const uids = [...this.fresh].sort((a, b) => a - b);
        // Rows missing were expunged: their event (a higher MODSEQ) makes the listing stale until it comes.
        this.fresh.clear();
        return store.getMessages(mailboxId, uids);
      },
      (rows) => {
        let next: MessageSummary[] | null = null;
        for (const r of rows) {
          next ??= this.messages.slice();
          const summary: MessageSummary = { id: r.id, mailboxId: r.mailboxId, uid: r.uid, modseq: r.modseq, flags: r.flags, internalDate: r.internalDate, size: r.size };
          const last = next[next.length - 1];
          if (!last || last.uid < r.uid) next.push(summary);
          else {
            const i = binarySearch(next, r.uid);
            if (i < 0) next.splice(-(i + 1), 0, summary);
          }
        }
        if (next) this.replace(next);
      },
    ).finally(() => (this.refreshing = null));
    return this.refreshing;
  }

  replace(messages: MessageSummary[]): void {
    this.messages = messages;
    this.derived = null;
  }

  listing(status: MailboxStatus): MailboxListing {
    if (!this.derived) {
      const msgs = this.messages;
      const uids = new Array<number>(msgs.length);
      const keywords = new Set<string>();
      let firstUnseen = 0;
      let lastFlags: readonly string[] | null = null;
      for (let i = 0; i < msgs.length; i++) {
        const m = msgs[i]!;
        uids[i] = m.uid;
        if (m.flags === lastFlags) continue; // shared flag lists (store listing): seen already
        lastFlags = m.flags;
        let seen = false;
        for (const f of m.flags) {
          if (f === "\\Seen") seen = true;
          else if (!f.startsWith("\\")) keywords.add(f);
        }
        if (!seen && firstUnseen === 0) firstUnseen = i + 1;
      }
      this.derived = { uids, keywords: [...keywords], firstUnseen };
    }
    return { status, messages: this.messages, ...this.derived };
  }
}

export class MailboxViews {
  /** Insertion order is recency of use (oldest first). */
  private readonly entries = new Map<Id, Entry>();
  /** Reads of whole mailboxes in progress. */
  private readonly building = new Map<Id, Promise<MailboxListing>>();

  constructor(private readonly store: Store) {}

  /** The current listing of a mailbox (see the invariants above). */
  async get(mailboxId: Id): Promise<MailboxListing> {
    let entry = this.entries.get(mailboxId);
    if (entry?.dead) {
      this.drop(mailboxId);
      entry = undefined;
    }
    if (entry) {
      this.entries.delete(mailboxId);
      this.entries.set(mailboxId, entry);
      let status: MailboxStatus;
      try {
        if (entry.fresh.size > 0) await entry.readFresh(this.store, mailboxId);
        status = await this.store.mailboxStatus(mailboxId);
      } catch (e) {
        this.drop(mailboxId); // e.g. the mailbox is gone
        throw e;
      }
      if (!entry.dead && entry.fresh.size === 0 && status.highestModseq === entry.modseq && status.messages === entry.messages.length) {
        return entry.listing(status);
      }
      this.drop(mailboxId);
    }
    // One read at a time per mailbox: a caller arriving during another's read waits for it, then
    // checks the result like any cached listing (its own subscription predates that check).
    const pending = this.building.get(mailboxId);
    if (pending) {
      await pending.catch(() => undefined);
      if (this.entries.has(mailboxId)) return this.get(mailboxId);
    }
    const p = this.build(mailboxId);
    this.building.set(mailboxId, p);
    try {
      return await p;
    } finally {
      if (this.building.get(mailboxId) === p) this.building.delete(mailboxId);
    }
  }

  /** Lists the mailbox afresh, and caches the listing when it fits. */
  private async build(mailboxId: Id): Promise<MailboxListing> {
    const entry = new Entry();
    // Subscribed before the read (events wait until the rows are in): nothing can fall between.
    entry.unsubscribe = this.store.subscribe(mailboxId, (e) => entry.onEvent(e));
    let snap: MailboxSnapshot | null = null;
    try {
      await entry.reading(
        () => this.store.listSummaries(mailboxId),
        (s) => {
          snap = s;
          entry.messages = s.messages;
          entry.modseq = s.mailbox.highestModseq;
        },
      );
    } catch (e) {
      entry.unsubscribe();
      throw e;
    }
    const { mailbox, messages } = snap!;
    const status: MailboxStatus = {
      messages: messages.length,
      unseen: 0,
      deleted: 0,
      uidNext: mailbox.uidNext,
      uidValidity: mailbox.uidValidity,
      highestModseq: mailbox.highestModseq,
      size: 0,
    };
    for (const m of messages) {
      status.size += m.size;
      if (!m.flags.includes("\\Seen")) status.unseen++;
      if (m.flags.includes("\\Deleted")) status.deleted++;
    }
    // The snapshot as read: events held back during the read may have changed the entry since
    // (the next get() sees them); when none did, the entry's derived values serve both.
    let listing: MailboxListing;
    if (entry.messages === messages && entry.modseq === mailbox.highestModseq && entry.fresh.size === 0) listing = entry.listing(status);
    else {
      const snapshot = new Entry();
      snapshot.messages = messages;
      listing = snapshot.listing(status);
    }
    if (entry.dead || messages.length > MAX_CACHED_MESSAGES) {
      entry.unsubscribe();
      return listing;
    }
    this.drop(mailboxId); // never two entries (two subscriptions) for one mailbox
    this.entries.set(mailboxId, entry);
    this.evict(mailboxId);
    return listing;
  }

  private evict(keep: Id): void {
    let total = 0;
    for (const e of this.entries.values()) total += e.messages.length;
    for (const id of [...this.entries.keys()]) {
      if (total <= MAX_CACHED_MESSAGES) return;
      if (id === keep) continue;
      total -= this.entries.get(id)!.messages.length;
      this.drop(id);
    }
  }

  private drop(mailboxId: Id): void {
    const entry = this.entries.get(mailboxId);
    if (!entry) return;
    this.entries.delete(mailboxId);
    entry.unsubscribe?.();
  }
}

const perStore = new WeakMap<Store, MailboxViews>();

/** The views of a store, shared by every protocol handler of the process. */
export function mailboxViews(store: Store): MailboxViews {
  let v = perStore.get(store);
  if (!v) perStore.set(store, (v = new MailboxViews(store)));
  return v;
}
