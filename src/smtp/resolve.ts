// Which local accounts an address in one of our domains reaches, and which addresses an account
// may send as. One resolution order for both, so that "may send as X" means exactly "mail to X
// reaches me":
//   1. an account with that exact address;
//   2. an alias with that exact address (its targets that are existing, enabled accounts);
//   3. plus-addressing: "alice+tag@d" is resolved as "alice@d" by rules 1–2;
//   4. (delivery only) the domain's catch-all, if set — never grounds for sending as an address.
//
// Invariants: addresses are compared lower-case (the store's convention); disabled accounts
// receive nothing and own nothing.

import type { Account, Store } from "../store/types.js";

async function exact(store: Store, address: string): Promise<Account[]> {
  const account = await store.getAccount(address);
  if (account) return account.disabled ? [] : [account];
  const alias = await store.getAlias(address);
  if (!alias) return [];
  const out: Account[] = [];
  for (const t of alias.targets) {
    const a = await store.getAccount(t.toLowerCase());
    if (a && !a.disabled && !out.some((x) => x.id === a.id)) out.push(a);
  }
  return out;
}

/** The accounts `local@domain` delivers to (empty: unknown user). */
export async function resolveLocal(store: Store, local: string, domain: string, o: { catchAll: boolean }): Promise<Account[]> {
  const l = local.toLowerCase();
  const d = domain.toLowerCase();
  let found = await exact(store, `${l}@${d}`);
  if (found.length > 0) return found;
  const plus = l.indexOf("+");
  if (plus > 0) {
    found = await exact(store, `${l.slice(0, plus)}@${d}`);
    if (found.length > 0) return found;
  }
  if (o.catchAll) {
    const dom = await store.getDomain(d);
    if (dom?.catchAll) return exact(store, dom.catchAll.toLowerCase());
  }
  return [];
}

/** May `account` use `address` as envelope sender or From: address? */
export async function ownsAddress(store: Store, account: Account, address: string): Promise<boolean> {
  const a = address.toLowerCase();
  const at = a.lastIndexOf("@");
  if (at <= 0) return false;
  if (a === account.address.toLowerCase()) return true;
  const accounts = await resolveLocal(store, a.slice(0, at), a.slice(at + 1), { catchAll: false });
  return accounts.some((x) => x.id === account.id);
}
