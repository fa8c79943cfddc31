// The POP3 maildrop lock (RFC 1939 §8: the server should lock the maildrop for exclusive access
// while a session is in TRANSACTION; RFC 2449 §8.1.2 IN-USE when it cannot).
//
// The lock is in-process, keyed by account id, and shared by every POP3 session over the same
// Store (a WeakMap keyed by the store object, so two handlers built on one store — say the
// pop3 and pop3s listeners — still exclude each other, while tests with separate stores do not
// interfere). Invariant: a lock is held by at most one session, and its release function is
// idempotent, so a session may call it from every exit path.

import type { Store } from "../store/types.js";

export class MaildropLocks {
  private readonly held = new Set<number>();

  /** Returns a release function, or null when another session holds the account's maildrop. */
  tryAcquire(accountId: number): (() => void) | null {
    if (this.held.has(accountId)) return null;
    this.held.add(accountId);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.held.delete(accountId);
    };
  }

  isLocked(accountId: number): boolean {
    return this.held.has(accountId);
  }
}

const byStore = new WeakMap<Store, MaildropLocks>();

export function locksFor(store: Store): MaildropLocks {
  let locks = byStore.get(store);
  if (!locks) {
    locks = new MaildropLocks();
    byStore.set(store, locks);
  }
  return locks;
}
