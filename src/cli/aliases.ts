// `portcullis alias add|del|list`: an alias address delivers to one or more local accounts.
// Targets must be existing local accounts (no forwarding to other servers, no alias chains).

import type { Command } from "commander";
import { CliError, withConfig, withStore, normalizeAddress, out, table } from "./common.js";

export function registerAliases(program: Command): void {
  const alias = program.command("alias").description("manage aliases: add, del, list");

  withConfig(alias.command("add <address> <targets...>").description("make <address> deliver to the local account(s) <targets>")).action(
    async (addr: string, targets: string[], _o: unknown, cmd: Command) => {
      const { address, domain } = normalizeAddress(addr);
      const wanted = [...new Set(targets.map((t) => normalizeAddress(t).address))];
      await withStore(cmd, async ({ store }) => {
        if (!(await store.getDomain(domain))) throw new CliError(`${domain} is not a local domain (add it with \`portcullis domain add ${domain}\`)`);
        if (await store.getAccount(address)) throw new CliError(`${address} is an account; an alias cannot have the same address`);
        if (await store.getAlias(address)) throw new CliError(`alias ${address} already exists (delete it first to change it)`);
        const missing: string[] = [];
        for (const t of wanted) if (!(await store.getAccount(t))) missing.push(t);
        if (missing.length > 0) throw new CliError(`not local accounts: ${missing.join(", ")} (alias targets must be accounts on this server)`);
        await store.addAlias(address, wanted);
        out(`added alias ${address} -> ${wanted.join(", ")}`);
      });
    },
  );

  withConfig(alias.command("del <address>").description("delete an alias")).action(async (addr: string, _o: unknown, cmd: Command) => {
    const { address } = normalizeAddress(addr);
    await withStore(cmd, async ({ store }) => {
      if (!(await store.getAlias(address))) throw new CliError(`no alias ${address}`);
      await store.deleteAlias(address);
      out(`deleted alias ${address}`);
    });
  });

  withConfig(alias.command("list [domain]").description("list aliases (of one domain, or all)")).action(
    async (domain: string | undefined, _o: unknown, cmd: Command) => {
      await withStore(cmd, async ({ store }) => {
        const aliases = await store.listAliases(domain?.toLowerCase());
        if (aliases.length === 0) return out("no aliases");
        process.stdout.write(table([["ALIAS", "TARGETS"], ...aliases.map((a) => [a.address, a.targets.join(", ")])]));
      });
    },
  );
}
