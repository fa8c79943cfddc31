// The selected mailbox as one session sees it (RFC 9051 §2.3.1.2): the UIDs in sequence-number
// order, and the queue of changes made by other sessions (store events) not yet announced.
//
// Invariants:
// - `uids` is strictly ascending; sequence number n is uids[n-1]. It only changes when an update
//   is announced to the client (EXISTS grows it, EXPUNGE/VANISHED shrinks it), so the numbers
//   the client knows stay valid between announcements.
// - Expunges are only announced when the caller allows it (RFC 9051 §7.5.1: never during FETCH,
//   STORE or SEARCH without UID); until then the expunged UIDs keep their sequence numbers.
// - Flag changes this session made itself are not announced twice (dropOwn).

import type { FlagChange, MailboxEvent, Mailbox, Store } from "../../store/types.js";
import { formatSet } from "../sequence.js";
import { renderFlagList, renderPermanentFlags, SYSTEM_FLAGS } from "../flags.js";
import { toWire } from "./modseq.js";

/** Unannounced store events kept per session before it is disconnected instead. */
export const MAX_PENDING_EVENTS = 100_000;

export class SelectedMailbox {
  readonly mailboxId: number;
  readonly uidValidity: number;
  name: string;
  readonly readOnly: boolean;
  uids: number[];
  private pending: MailboxEvent[] = [];
  private readonly unsubscribe: () => void;
  deleted = false;
  /** Too many unannounced changes were queued (see MAX_PENDING_EVENTS). */
  overflow = false;
  /** Keywords announced in the FLAGS response (RFC 9051 §7.3.5). */
  readonly keywords = new Set<string>();
  /** Called when an event arrives (IDLE pushes it at once). */
  onEvent: (() => void) | null = null;

  constructor(store: Store, mailbox: Mailbox, uids: number[], readOnly: boolean) {
    this.mailboxId = mailbox.id;
    this.uidValidity = mailbox.uidValidity;
    this.name = mailbox.name;
    this.readOnly = readOnly;
    this.uids = uids;
    this.unsubscribe = store.subscribe(mailbox.id, (e) => {
      if (this.overflow) return;
      if (this.pending.length >= MAX_PENDING_EVENTS) {
        // A client that sleeps while its mailbox changes massively: memory stays bounded; it is
        // told BYE at its next command and resynchronises on reconnect (CONDSTORE/QRESYNC).
        this.overflow = true;
        this.pending = [];
      } else this.pending.push(e);
      this.onEvent?.();
    });
  }

  close(): void {
    this.unsubscribe();
    this.onEvent = null;
  }

  get exists(): number {
    return this.uids.length;
  }

  get hasPending(): boolean {
    return this.pending.length > 0 || this.overflow;
  }

  /** Sequence number of a UID, 0 when not in the view. */
  seqOf(uid: number): number {
    let lo = 0;
    let hi = this.uids.length - 1;
    while (lo <= hi) {
      const m = (lo + hi) >> 1;
      const v = this.uids[m]!;
      if (v === uid) return m + 1;
      if (v < uid) lo = m + 1;
      else hi = m - 1;
    }
    return 0;
  }

  /** The FLAGS and PERMANENTFLAGS lines for the mailbox's keywords (RFC 9051 §7.3.5, §7.1). */
  flagsLines(): string {
    const kw = [...this.keywords];
    const perm = this.readOnly ? "()" : renderPermanentFlags(kw);
    return `* FLAGS ${renderFlagList([...SYSTEM_FLAGS, ...kw])}\r\n* OK [PERMANENTFLAGS ${perm}] Flags permitted\r\n`;
  }

  /** Records the keywords of a flag list about to be sent; returns new FLAGS/PERMANENTFLAGS lines
   * when it holds a keyword the client was not told of yet, else "". */
  noteFlags(flags: readonly string[]): string {
    let added = false;
    for (const f of flags) {
      if (f.startsWith("\\") || this.keywords.has(f)) continue;
      this.keywords.add(f);
      added = true;
    }
    return added ? this.flagsLines() : "";
  }

  /** Drops queued flag changes that this session's own STORE already reported. */
  dropOwn(changes: readonly FlagChange[]): void {
    if (changes.length === 0) return;
    const own = new Set(changes.map((c) => `${c.uid}:${c.modseq}`));
    this.pending = this.pending
      .map((e) => (e.kind === "flags" ? { ...e, changes: e.changes.filter((c) => !own.has(`${c.uid}:${c.modseq}`)) } : e))
      .filter((e) => e.kind !== "flags" || e.changes.length > 0);
  }

  /** Removes UIDs from the view (this session's own EXPUNGE/MOVE) and returns the untagged
   * responses: "* n EXPUNGE" in descending order, or one VANISHED with QRESYNC (RFC 7162 §3.2.10). */
  removeUids(removed: readonly number[], qresync: boolean): string[] {
    const present = removed.filter((u) => this.seqOf(u) > 0).sort((a, b) => b - a);
    if (present.length === 0) return [];
    const out: string[] = [];
    if (qresync) out.push(`* VANISHED ${formatSet(present, { sort: true })}\r\n`);
    const gone = new Set(present);
    for (const u of present) {
      if (!qresync) out.push(`* ${this.seqOf(u)} EXPUNGE\r\n`); // descending: earlier lines keep later numbers valid
    }
    this.uids = this.uids.filter((u) => !gone.has(u));
    return out;
  }

  /**
   * Applies queued events and returns the responses announcing them. With `allowExpunge` false,
   * expunge events stay queued.
   */
  flush(o: { allowExpunge: boolean; qresync: boolean; condstore: boolean }): string[] {
    const out: string[] = [];
    let grew = false;
    const keep: MailboxEvent[] = [];
    const flagsByUid = new Map<number, FlagChange>();
    for (const e of this.pending) {
      // Held expunges keep their order among themselves; EXISTS and flag changes may pass them,
      // since the expunged messages keep their sequence numbers until announced.
      switch (e.kind) {
        case "exists":
          if (this.seqOf(e.uid) === 0) {
            const last = this.uids[this.uids.length - 1] ?? 0;
            if (e.uid > last) this.uids.push(e.uid);
            else {
              this.uids.push(e.uid);
              this.uids.sort((a, b) => a - b);
            }
            grew = true;
          }
          break;
        case "flags":
          for (const c of e.changes) flagsByUid.set(c.uid, c);
          break;
        case "expunge":
          if (!o.allowExpunge || keep.length > 0) {
            keep.push(e);
            break;
          }
          for (const u of e.uids) flagsByUid.delete(u);
          out.push(...this.removeUids(e.uids, o.qresync));
          break;
        case "deleted":
          this.deleted = true;
          break;
      }
    }
    this.pending = keep;
    // EXISTS after the expunges (its count is the one left after them), before flag updates.
    if (grew) out.push(`* ${this.uids.length} EXISTS\r\n`);
    for (const c of [...flagsByUid.values()].sort((a, b) => a.uid - b.uid)) {
      const seq = this.seqOf(c.uid);
      if (seq === 0) continue; // not yet announced, or gone
      // RFC 7162 §3.1.4: with CONDSTORE enabled, unsolicited FETCH carries UID and MODSEQ... and
      // RFC 7162 §3.2.4 (QRESYNC) requires the UID.
      const extra = o.condstore ? ` UID ${c.uid} MODSEQ (${toWire(c.modseq)})` : "";
      const fl = this.noteFlags(c.flags);
      if (fl) out.push(fl);
      out.push(`* ${seq} FETCH (FLAGS ${renderFlagList(c.flags)}${extra})\r\n`);
    }
    return out;
  }
}
