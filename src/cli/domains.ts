// `portcullis domain add|del|list`: the mail domains this server is the destination for.
// `domain add` also creates the domain's DKIM key and prints the DNS record to publish.

import type { Command } from "commander";
import { normalizeDomain, ensureDkimKey, InitError } from "../config/init.js";
import { StoreError } from "../store/types.js";
import { CliError, withConfig, withStore, out, table } from "./common.js";

function domainArg(d: string): string {
  try {
    return normalizeDomain(d);
  } catch (e) {
    if (e instanceof InitError) throw new CliError(e.message);
    throw e;
  }
}

export function registerDomains(program: Command): void {
  const domain = program.command("domain").description("manage local mail domains: add, del, list");

  withConfig(domain.command("add <domain>").description("add a local domain and create its DKIM key")).action(
    async (d: string, _o: unknown, cmd: Command) => {
      const name = domainArg(d);
      await withStore(cmd, async ({ store, loaded }) => {
        if (await store.getDomain(name)) throw new CliError(`domain ${name} already exists`);
        await store.addDomain(name);
        const dkim = await ensureDkimKey(loaded.dataDir, name, loaded.config.dkim.selector);
        out(
          [
            `added domain ${name}`,
            `DKIM key ${dkim.created ? "created" : "kept"}: ${dkim.file}`,
            "Publish this DNS record:",
            `  ${dkim.dnsRecord}`,
          ].join("\n"),
        );
      });
    },
  );

  withConfig(domain.command("del <domain>").description("delete a domain (refused while it has accounts or aliases)")).action(
    async (d: string, _o: unknown, cmd: Command) => {
      const name = domainArg(d);
      await withStore(cmd, async ({ store }) => {
        if (!(await store.getDomain(name))) throw new CliError(`no domain ${name}`);
        const accounts = await store.listAccounts(name);
        const aliases = await store.listAliases(name);
        if (accounts.length > 0 || aliases.length > 0) {
          throw new CliError(`domain ${name} still has ${accounts.length} account(s) and ${aliases.length} alias(es); delete them first`);
        }
        try {
          await store.deleteDomain(name);
        } catch (e) {
          if (e instanceof StoreError) throw new CliError(e.message);
          throw e;
        }
        out(`deleted domain ${name} (its DKIM key stays in the data directory's dkim/)`);
      });
    },
  );

  withConfig(domain.command("list").description("list local domains")).action(async (_o: unknown, cmd: Command) => {
    await withStore(cmd, async ({ store }) => {
      const domains = await store.listDomains();
      if (domains.length === 0) return out("no domains");
      const rows: string[][] = [];
      for (const dm of domains) rows.push([dm.name, String((await store.listAccounts(dm.name)).length), dm.catchAll ?? "-"]);
      process.stdout.write(table([["DOMAIN", "ACCOUNTS", "CATCH-ALL"], ...rows]));
    });
  });
}
