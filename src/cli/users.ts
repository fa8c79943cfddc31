// `portcullis user add|del|passwd|list`: the user directory (Portcullis never uses OS accounts).
//
// Passwords come from a prompt without echo or from --password-stdin, are checked against the
// password policy (length, common and breached passwords) and stored as argon2id + SCRAM-SHA-256.

import type { Command } from "commander";
import { checkPasswordStrength, makeCredentials } from "../auth/index.js";
import { size } from "../config/schema.js";
import { CliError, withConfig, withStore, readNewPassword, normalizeAddress, out, table } from "./common.js";
import type { Store } from "../store/types.js";

async function strongPassword(o: { passwordStdin?: boolean }, address: string): Promise<string> {
  const password = await readNewPassword(o);
  const verdict = await checkPasswordStrength(password, { address });
  if (!verdict.ok) throw new CliError(`password refused: ${verdict.reason}`);
  return password;
}

async function requireLocalDomain(store: Store, domain: string): Promise<void> {
  if (!(await store.getDomain(domain))) throw new CliError(`${domain} is not a local domain (add it with \`portcullis domain add ${domain}\`)`);
}

function parseQuota(v: string | undefined): number | null {
  if (v === undefined || v === "none") return null;
  const r = size.safeParse(/^\d+$/.test(v) ? Number(v) : v);
  if (!r.success) throw new CliError(`--quota: ${r.error.issues[0]?.message ?? "not a size"}`);
  return r.data;
}

export function registerUsers(program: Command): void {
  const user = program.command("user").description("manage accounts: add, del, passwd, list");

  withConfig(
    user
      .command("add <address>")
      .description("create an account (with INBOX, Sent, Drafts, Trash, Junk, Archive)")
      .option("--password-stdin", "read the password from the first line of stdin instead of prompting")
      .option("--quota <size>", 'storage quota, e.g. "2GB" (default: none)'),
  ).action(async (addr: string, o: { passwordStdin?: boolean; quota?: string }, cmd: Command) => {
    const { address, domain } = normalizeAddress(addr);
    const quotaBytes = parseQuota(o.quota);
    await withStore(cmd, async ({ store }) => {
      await requireLocalDomain(store, domain);
      if (await store.getAccount(address)) throw new CliError(`account ${address} already exists`);
      if (await store.getAlias(address)) throw new CliError(`${address} is an alias; delete it first with \`portcullis alias del ${address}\``);
      const password = await strongPassword(o, address);
      await store.createAccount(address, { credentials: await makeCredentials(password), quotaBytes });
      out(`created account ${address}`);
    });
  });

  withConfig(
    user
      .command("passwd <address>")
      .description("set a new password")
      .option("--password-stdin", "read the password from the first line of stdin instead of prompting"),
  ).action(async (addr: string, o: { passwordStdin?: boolean }, cmd: Command) => {
    const { address } = normalizeAddress(addr);
    await withStore(cmd, async ({ store }) => {
      const account = await store.getAccount(address);
      if (!account) throw new CliError(`no account ${address}`);
      const password = await strongPassword(o, address);
      await store.setCredentials(account.id, await makeCredentials(password));
      out(`password of ${address} changed`);
    });
  });

  withConfig(user.command("del <address>").description("delete an account with all its mailboxes and messages")).action(
    async (addr: string, _o: unknown, cmd: Command) => {
      const { address } = normalizeAddress(addr);
      await withStore(cmd, async ({ store }) => {
        if (!(await store.getAccount(address))) throw new CliError(`no account ${address}`);
        const aliases = (await store.listAliases()).filter((a) => a.targets.includes(address));
        if (aliases.length > 0) {
          throw new CliError(`${address} is a target of the alias(es) ${aliases.map((a) => a.address).join(", ")}; delete or change them first`);
        }
        await store.deleteAccount(address);
        out(`deleted account ${address}`);
      });
    },
  );

  withConfig(user.command("list [domain]").description("list accounts (of one domain, or all)")).action(
    async (domain: string | undefined, _o: unknown, cmd: Command) => {
      await withStore(cmd, async ({ store }) => {
        const accounts = await store.listAccounts(domain?.toLowerCase());
        const rows = accounts.map((a) => [
          a.address,
          a.disabled ? "disabled" : a.credentials ? "active" : "no password",
          a.quotaBytes === null ? "-" : String(a.quotaBytes),
          a.createdAt.toISOString().slice(0, 10),
        ]);
        if (rows.length === 0) out("no accounts");
        else process.stdout.write(table([["ADDRESS", "STATUS", "QUOTA", "CREATED"], ...rows]));
      });
    },
  );
}
