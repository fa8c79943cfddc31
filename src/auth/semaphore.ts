// A small async counting semaphore, and a per-key counter of work in flight.
//
// The password pool uses Semaphore so that at most `auth.hash_workers` argon2id operations run
// at once (threat model §4: a flood of logins cannot take every libuv thread and starve the
// server); waiters are served in FIFO order. KeyedLimiter caps verifications per client IP.
//
// Invariants: `active` never exceeds `limit`; every acquired slot is released exactly once (the
// release function is idempotent); an aborted waiter leaves the queue and never takes a slot.

export class Semaphore {
  #active = 0;
  readonly #waiters: Array<{ grant: () => void }> = [];

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`semaphore limit must be a positive integer, not ${limit}`);
  }

  get active(): number {
    return this.#active;
  }

  get waiting(): number {
    return this.#waiters.length;
  }

  /** Waits for a slot; resolves to its release function. Rejects with the signal's reason if
   * `signal` aborts first. */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#active < this.limit) {
      this.#active++;
      return Promise.resolve(this.#releaser());
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        grant: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve(this.#releaser());
        },
      };
      const onAbort = () => {
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(signal!.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  /** Runs `fn` holding a slot. */
  async run<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const release = await this.acquire(signal);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  #releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiters.shift();
      // The slot passes straight to the next waiter, so `active` stays the same.
      if (next) next.grant();
      else this.#active--;
    };
  }
}

/** Counts work in flight per key (a client IP) and refuses above `limit`. */
export class KeyedLimiter {
  readonly #counts = new Map<string, number>();

  constructor(readonly limit: number) {}

  /** Takes a slot for `key`, or returns null when `limit` are already taken. Synchronous, so
   * two calls in the same tick cannot both pass. */
  tryAcquire(key: string): (() => void) | null {
    const n = this.#counts.get(key) ?? 0;
    if (n >= this.limit) return null;
    this.#counts.set(key, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const m = (this.#counts.get(key) ?? 1) - 1;
      if (m <= 0) this.#counts.delete(key);
      else this.#counts.set(key, m);
    };
  }

  count(key: string): number {
    return this.#counts.get(key) ?? 0;
  }
}
