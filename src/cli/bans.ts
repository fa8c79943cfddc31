// `portcullis ban list|add|del`: the persistent ban list (threat model §2). Changes go through the
// policy's BanList (which applies auth.never_ban, logs ban.added / ban.lifted and persists through
// the store); a running server picks them up within seconds (BanList.refresh()).

import type { Command } from "commander";
import { duration, network } from "../config/schema.js";
import { CliError, withConfig, withStore, out, table } from "./common.js";
import type { Config } from "../config/schema.js";
import type { Store } from "../store/types.js";
import type { AuditLogger } from "../log/audit.js";

async function banList(o: { config: Config; store: Store; log: AuditLogger }) {
  const { createPolicy } = await import("../policy/index.js");
  return (await createPolicy(o)).bans;
}

function parseSubject(s: string): string {
  const r = network.safeParse(s.trim());
  if (!r.success) throw new CliError(`not an IP address or CIDR network: ${JSON.stringify(s)}`);
  return r.data;
}

export function registerBans(program: Command): void {
  const ban = program.command("ban").description("manage banned addresses and networks: list, add, del");

  withConfig(ban.command("list").description("list bans in force")).action(async (_o: unknown, cmd: Command) => {
    await withStore(cmd, async ({ store }) => {
      const now = Date.now();
      const bans = (await store.getBans()).filter((b) => b.expiresAt === null || b.expiresAt.getTime() > now);
      if (bans.length === 0) return out("no bans");
      process.stdout.write(
        table([
          ["SUBJECT", "EXPIRES", "OFFENCES", "REASON"],
          ...bans.map((b) => [b.subject, b.expiresAt ? b.expiresAt.toISOString() : "never", String(b.offences), b.reason]),
        ]),
      );
    });
  });

  withConfig(
    ban
      .command("add <subject>")
      .description("ban an IP address or CIDR network")
      .option("--reason <text>", "why (shown in `ban list` and the log)", "banned by operator")
      .option("--duration <d>", 'how long, e.g. "1h", "7d", or "forever" (default: grows with each offence per [auth])'),
  ).action(async (s: string, o: { reason: string; duration?: string }, cmd: Command) => {
    const subject = parseSubject(s);
    let ms: number | null | undefined;
    if (o.duration === "forever") ms = null;
    else if (o.duration !== undefined) {
      const r = duration.safeParse(/^\d+(\.\d+)?$/.test(o.duration) ? Number(o.duration) : o.duration);
      if (!r.success) throw new CliError(`--duration: ${r.error.issues[0]?.message ?? "not a duration"}`);
      ms = r.data;
    }
    await withStore(cmd, async ({ store, loaded, log }) => {
      const bans = await banList({ config: loaded.config, store, log });
      const b = await bans.ban(subject, o.reason, ms);
      if (!b) throw new CliError(`${subject} is in auth.never_ban; not banned`);
      out(`banned ${b.subject} ${b.expiresAt ? `until ${b.expiresAt.toISOString()}` : "permanently"}`);
    });
  });

  withConfig(ban.command("del <subject>").description("lift a ban")).action(async (s: string, _o: unknown, cmd: Command) => {
    const subject = parseSubject(s);
    await withStore(cmd, async ({ store, loaded, log }) => {
      const bans = await banList({ config: loaded.config, store, log });
      if (!(await bans.lift(subject))) throw new CliError(`no ban on ${subject}`);
      out(`lifted the ban on ${subject}`);
    });
  });
}
