// Per-account send limits on submission (threat model §2: a stolen password must not turn the
// server into a spam cannon): messages per hour and distinct recipients per day, as in-memory
// sliding windows. State is per process and lost on restart, which errs on the side of letting
// a legitimate user send after an upgrade.
//
// Invariants:
// - check* never records; record() is called only once a message has been accepted (250), so
//   refused or aborted transactions cost nothing.
// - Memory per account is bounded by the limits themselves (old entries are pruned on access).

const HOUR = 3_600_000;
const DAY = 86_400_000;

export class SendLimiter {
  private readonly messages = new Map<number, number[]>();
  private readonly recipients = new Map<number, Map<string, number>>();

  constructor(
    private readonly o: { messagesPerHour: number; recipientsPerDay: number; now?: () => number },
  ) {}

  private now(): number {
    return this.o.now ? this.o.now() : Date.now();
  }

  private recentMessages(accountId: number): number[] {
    const cutoff = this.now() - HOUR;
    const list = (this.messages.get(accountId) ?? []).filter((t) => t > cutoff);
    this.messages.set(accountId, list);
    return list;
  }

  private recentRecipients(accountId: number): Map<string, number> {
    const cutoff = this.now() - DAY;
    const map = this.recipients.get(accountId) ?? new Map<string, number>();
    for (const [r, t] of map) if (t <= cutoff) map.delete(r);
    this.recipients.set(accountId, map);
    return map;
  }

  /** May the account start another message? */
  canSendMessage(accountId: number): boolean {
    return this.recentMessages(accountId).length < this.o.messagesPerHour;
  }

  /** Would sending to all of `recipients` (the transaction's, including a new one) stay within
   * the distinct-recipients-per-day limit? */
  canSendTo(accountId: number, recipients: Iterable<string>): boolean {
    const seen = this.recentRecipients(accountId);
    let count = seen.size;
    const fresh = new Set<string>();
    for (const r of recipients) if (!seen.has(r) && !fresh.has(r)) fresh.add(r);
    count += fresh.size;
    return count <= this.o.recipientsPerDay;
  }

  /** Counts one accepted message and its recipients. */
  record(accountId: number, recipients: Iterable<string>): void {
    const t = this.now();
    this.recentMessages(accountId).push(t);
    const map = this.recentRecipients(accountId);
    for (const r of recipients) map.set(r, t);
  }
}
