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

/** Caps work in flight per key (a client IP): at most `limit` at once; up to `maxWaiting` more
 * wait their turn in FIFO order (a mail client opening several connections at once is normal,
 * not an attack); beyond that the caller is refused. */
export class KeyedLimiter {
  readonly #sems = new Map<string, Semaphore>();

  constructor(
    readonly limit: number,
    readonly maxWaiting: number = 16,
  ) {}

  /** Takes a slot for `key`, waiting if need be; null when `maxWaiting` callers already wait.
   * Rejects with the signal's reason if `signal` aborts while waiting. */
  async acquire(key: string, signal?: AbortSignal): Promise<(() => void) | null> {
    let sem = this.#sems.get(key);
    if (!sem) {
      sem = new Semaphore(this.limit);
      this.#sems.set(key, sem);
    }
    if (sem.active >= this.limit && sem.waiting >= this.maxWaiting) return null;
    const s = sem;
    const forget = () => {
      if (s.active === 0 && s.waiting === 0 && this.#sems.get(key) === s) this.#sems.delete(key);
    };
    let release: () => void;
    try {
      release = await s.acquire(signal);
    } catch (err) {
      forget();
      throw err;
    }
    return () => {
      release();
      forget();
    };
  }

  /** Slots in use for `key`. */
  count(key: string): number {
    return this.#sems.get(key)?.active ?? 0;
  }

  /** Keys with work in flight or waiting (bounded memory: idle keys are dropped). */
  get size(): number {
    return this.#sems.size;
  }
}
