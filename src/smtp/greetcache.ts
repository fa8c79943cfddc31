// The addresses that passed the MX greeting-pause test (the client waited for the 220 instead of
// talking first), remembered so that their next connections are greeted at once — as Postfix's
// postscreen does with its cache (postscreen_greet_ttl, 1 day by default).
//
// A spam bot that pipelines before the greeting (RFC 5321 §4.3.1, RFC 2920 §3.1) is still caught
// on its first connection from an address, and an address caught talking early is forgotten.
// A mail server that sends often (a list server, a big provider's outbound) pays the pause once a
// day instead of on every connection.
//
// Invariants: pure (the clock is a parameter); at most `max` addresses, the oldest pass dropped
// first; an entry older than `ttlMs` is not a pass.

export class GreetPassCache {
  private readonly passed = new Map<string, number>();

  constructor(
    private readonly o: { ttlMs: number; max: number; now?: () => number } = { ttlMs: 24 * 3600_000, max: 100_000 },
  ) {}

  private now(): number {
    return this.o.now ? this.o.now() : Date.now();
  }

  /** True when `address` passed the test within the last ttlMs. */
  has(address: string): boolean {
    const at = this.passed.get(address);
    if (at === undefined) return false;
    if (this.now() - at > this.o.ttlMs) {
      this.passed.delete(address);
      return false;
    }
    return true;
  }

  /** `address` waited for the greeting. */
  pass(address: string): void {
    this.passed.delete(address); // re-inserted last: Map order is the age order
    this.passed.set(address, this.now());
    while (this.passed.size > this.o.max) this.passed.delete(this.passed.keys().next().value!);
  }

  /** `address` talked before the greeting: it waits again next time. */
  fail(address: string): void {
    this.passed.delete(address);
  }

  get size(): number {
    return this.passed.size;
  }
}
