// Domains, accounts and aliases of the SQLite store.
//
// Invariants: every address and domain is stored normalised (normalize.ts); an address is either
// an account or an alias, never both; an account or alias belongs to an existing local domain; a
// domain is deleted only when no account or alias uses it; alias targets and catch-all addresses
// name existing accounts (deleting an account removes it from aliases and catch-alls).

import { DEFAULT_MAILBOXES, StoreError } from "./types.js";
import type { Account, Alias, Credentials, Domain, Id, MailboxEvent } from "./types.js";
import type { Ctx, Tx } from "./context.js";
import { domainOf, normaliseAddress, normaliseDomain } from "./normalize.js";
import { insertMailbox } from "./mailboxes.js";

interface DomainRow {
  id: number;
  name: string;
  catch_all: string | null;
  created_at: number;
}
interface AccountRow {
  id: number;
  address: string;
  domain_id: number;
  credentials: string | null;
  quota_bytes: number | null;
  disabled: number;
  created_at: number;
}

const toDomain = (r: DomainRow): Domain => ({ id: r.id, name: r.name, catchAll: r.catch_all, createdAt: new Date(r.created_at) });

function encodeCredentials(c: Credentials): string {
  return JSON.stringify({
    passwordHash: c.passwordHash,
    scram: {
      salt: c.scram.salt.toString("base64"),
      iterations: c.scram.iterations,
      storedKey: c.scram.storedKey.toString("base64"),
      serverKey: c.scram.serverKey.toString("base64"),
    },
  });
}

function decodeCredentials(s: string | null): Credentials | null {
  if (s === null) return null;
  const j = JSON.parse(s) as { passwordHash: string; scram: { salt: string; iterations: number; storedKey: string; serverKey: string } };
  return {
    passwordHash: j.passwordHash,
    scram: {
      salt: Buffer.from(j.scram.salt, "base64"),
      iterations: j.scram.iterations,
      storedKey: Buffer.from(j.scram.storedKey, "base64"),
      serverKey: Buffer.from(j.scram.serverKey, "base64"),
    },
  };
}

const toAccount = (r: AccountRow): Account => ({
  id: r.id,
  address: r.address,
  domainId: r.domain_id,
  credentials: decodeCredentials(r.credentials),
  quotaBytes: r.quota_bytes,
  disabled: r.disabled !== 0,
  createdAt: new Date(r.created_at),
});

const toAlias = (r: { address: string; targets: string }): Alias => ({ address: r.address, targets: JSON.parse(r.targets) as string[] });

function checkQuota(q: number | null | undefined): number | null {
  if (q === null || q === undefined) return null;
  if (!Number.isSafeInteger(q) || q < 0) throw new StoreError("invalid", `invalid quota: ${q}`);
  return q;
}

// ---- domains

function domainRow(ctx: Ctx, name: string): DomainRow | undefined {
  return ctx.st.get("SELECT * FROM domains WHERE name = ?").get(name) as DomainRow | undefined;
}

export function addDomain(ctx: Ctx, name: string): Promise<Domain> {
  const n = normaliseDomain(name);
  return ctx.committer.submit(() => {
    if (domainRow(ctx, n)) throw new StoreError("exists", `domain ${n} already exists`);
    ctx.st.get("INSERT INTO domains (name, created_at) VALUES (?, ?)").run(n, Date.now());
    return toDomain(domainRow(ctx, n)!);
  });
}

export function getDomain(ctx: Ctx, name: string): Domain | null {
  const r = domainRow(ctx, normaliseDomain(name));
  return r ? toDomain(r) : null;
}

export function listDomains(ctx: Ctx): Domain[] {
  return (ctx.st.get("SELECT * FROM domains ORDER BY name").all() as DomainRow[]).map(toDomain);
}

export function deleteDomain(ctx: Ctx, name: string): Promise<void> {
  const n = normaliseDomain(name);
  return ctx.committer.submit(() => {
    const d = domainRow(ctx, n);
    if (!d) throw new StoreError("not-found", `no domain ${n}`);
    const used = ctx.st
      .get("SELECT (SELECT count(*) FROM accounts WHERE domain_id = ?) + (SELECT count(*) FROM aliases WHERE domain_id = ?) AS n")
      .get(d.id, d.id) as { n: number };
    if (used.n > 0) throw new StoreError("in-use", `domain ${n} still has ${used.n} accounts or aliases`);
    ctx.st.get("DELETE FROM domains WHERE id = ?").run(d.id);
  });
}

export function setCatchAll(ctx: Ctx, domain: string, address: string | null): Promise<void> {
  const n = normaliseDomain(domain);
  const a = address === null ? null : normaliseAddress(address);
  return ctx.committer.submit(() => {
    const d = domainRow(ctx, n);
    if (!d) throw new StoreError("not-found", `no domain ${n}`);
    if (a !== null && !accountRow(ctx, a)) throw new StoreError("not-found", `catch-all ${a} is not a local account`);
    ctx.st.get("UPDATE domains SET catch_all = ? WHERE id = ?").run(a, d.id);
  });
}

// ---- accounts

function accountRow(ctx: Ctx, address: string): AccountRow | undefined {
  return ctx.st.get("SELECT * FROM accounts WHERE address = ?").get(address) as AccountRow | undefined;
}

function aliasRow(ctx: Ctx, address: string): { address: string; targets: string } | undefined {
  return ctx.st.get("SELECT address, targets FROM aliases WHERE address = ?").get(address) as
    | { address: string; targets: string }
    | undefined;
}

export function createAccount(
  ctx: Ctx,
  address: string,
  opts: { credentials?: Credentials; quotaBytes?: number | null } = {},
): Promise<Account> {
  const a = normaliseAddress(address);
  const quota = checkQuota(opts.quotaBytes);
  const creds = opts.credentials ? encodeCredentials(opts.credentials) : null;
  return ctx.committer.submit(() => {
    const d = domainRow(ctx, domainOf(a));
    if (!d) throw new StoreError("not-found", `${domainOf(a)} is not a local domain`);
    if (accountRow(ctx, a) || aliasRow(ctx, a)) throw new StoreError("exists", `${a} already exists`);
    const info = ctx.st
      .get("INSERT INTO accounts (address, domain_id, credentials, quota_bytes, created_at) VALUES (?, ?, ?, ?, ?)")
      .run(a, d.id, creds, quota, Date.now());
    const id = Number(info.lastInsertRowid);
    for (const mb of DEFAULT_MAILBOXES) insertMailbox(ctx, id, mb.name, mb.specialUse);
    return toAccount(accountRow(ctx, a)!);
  });
}

export function getAccount(ctx: Ctx, address: string): Account | null {
  let a: string;
  try {
    a = normaliseAddress(address);
  } catch {
    return null; // not an address: certainly no such account
  }
  const r = accountRow(ctx, a);
  return r ? toAccount(r) : null;
}

export function getAccountById(ctx: Ctx, id: Id): Account | null {
  const r = ctx.st.get("SELECT * FROM accounts WHERE id = ?").get(id) as AccountRow | undefined;
  return r ? toAccount(r) : null;
}

export function listAccounts(ctx: Ctx, domain?: string): Account[] {
  const rows =
    domain === undefined
      ? ctx.st.get("SELECT * FROM accounts ORDER BY address").all()
      : ctx.st
          .get("SELECT a.* FROM accounts a JOIN domains d ON d.id = a.domain_id WHERE d.name = ? ORDER BY a.address")
          .all(normaliseDomain(domain));
  return (rows as AccountRow[]).map(toAccount);
}

export function deleteAccount(ctx: Ctx, address: string): Promise<void> {
  const a = normaliseAddress(address);
  return ctx.committer.submit((tx: Tx) => {
    const r = accountRow(ctx, a);
    if (!r) throw new StoreError("not-found", `no account ${a}`);
    const mailboxes = ctx.st.get("SELECT id FROM mailboxes WHERE account_id = ?").all(r.id) as Array<{ id: number }>;
    // Aliases and catch-alls pointing at the account stop pointing at it.
    const aliases = ctx.st.get("SELECT address, targets FROM aliases WHERE targets LIKE ?").all(`%${JSON.stringify(a)}%`) as Array<{
      address: string;
      targets: string;
    }>;
    for (const al of aliases) {
      const targets = (JSON.parse(al.targets) as string[]).filter((t) => t !== a);
      if (targets.length === 0) ctx.st.get("DELETE FROM aliases WHERE address = ?").run(al.address);
      else ctx.st.get("UPDATE aliases SET targets = ? WHERE address = ?").run(JSON.stringify(targets), al.address);
    }
    ctx.st.get("UPDATE domains SET catch_all = NULL WHERE catch_all = ?").run(a);
    // Cascades to mailboxes, messages and expunged UIDs; triggers drop blob references and the
    // committer unlinks the files after the commit.
    ctx.st.get("DELETE FROM accounts WHERE id = ?").run(r.id);
    for (const mb of mailboxes) tx.events.push({ kind: "deleted", mailboxId: mb.id } satisfies MailboxEvent);
  });
}

export function setCredentials(ctx: Ctx, accountId: Id, credentials: Credentials): Promise<void> {
  const c = encodeCredentials(credentials);
  return ctx.committer.submit(() => {
    const info = ctx.st.get("UPDATE accounts SET credentials = ? WHERE id = ?").run(c, accountId);
    if (info.changes === 0) throw new StoreError("not-found", `no account ${accountId}`);
  });
}

export function setQuota(ctx: Ctx, accountId: Id, quotaBytes: number | null): Promise<void> {
  const q = checkQuota(quotaBytes);
  return ctx.committer.submit(() => {
    const info = ctx.st.get("UPDATE accounts SET quota_bytes = ? WHERE id = ?").run(q, accountId);
    if (info.changes === 0) throw new StoreError("not-found", `no account ${accountId}`);
  });
}

/** RFC 9208 §5.1 STORAGE: the sum of the mailbox size counters (no scan of messages). */
export function quotaUsage(ctx: Ctx, accountId: Id): number {
  const r = ctx.st.get("SELECT coalesce(sum(size), 0) AS used FROM mailboxes WHERE account_id = ?").get(accountId) as { used: number };
  return r.used;
}

// ---- aliases

export function addAlias(ctx: Ctx, address: string, targets: string[]): Promise<Alias> {
  const a = normaliseAddress(address);
  const ts = [...new Set(targets.map(normaliseAddress))];
  if (ts.length === 0) throw new StoreError("invalid", `alias ${a} needs at least one target`);
  return ctx.committer.submit(() => {
    const d = domainRow(ctx, domainOf(a));
    if (!d) throw new StoreError("not-found", `${domainOf(a)} is not a local domain`);
    if (accountRow(ctx, a) || aliasRow(ctx, a)) throw new StoreError("exists", `${a} already exists`);
    for (const t of ts) if (!accountRow(ctx, t)) throw new StoreError("not-found", `alias target ${t} is not a local account`);
    ctx.st.get("INSERT INTO aliases (address, domain_id, targets) VALUES (?, ?, ?)").run(a, d.id, JSON.stringify(ts));
    return { address: a, targets: ts };
  });
}

export function getAlias(ctx: Ctx, address: string): Alias | null {
  let a: string;
  try {
    a = normaliseAddress(address);
  } catch {
    return null;
  }
  const r = aliasRow(ctx, a);
  return r ? toAlias(r) : null;
}

export function listAliases(ctx: Ctx, domain?: string): Alias[] {
  const rows =
    domain === undefined
      ? ctx.st.get("SELECT address, targets FROM aliases ORDER BY address").all()
      : ctx.st
          .get("SELECT a.address, a.targets FROM aliases a JOIN domains d ON d.id = a.domain_id WHERE d.name = ? ORDER BY a.address")
          .all(normaliseDomain(domain));
  return (rows as Array<{ address: string; targets: string }>).map(toAlias);
}

export function deleteAlias(ctx: Ctx, address: string): Promise<void> {
  const a = normaliseAddress(address);
  return ctx.committer.submit(() => {
    const info = ctx.st.get("DELETE FROM aliases WHERE address = ?").run(a);
    if (info.changes === 0) throw new StoreError("not-found", `no alias ${a}`);
  });
}
