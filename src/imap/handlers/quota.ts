// GETQUOTA and GETQUOTAROOT (RFC 9208): one quota root "" per account, resource STORAGE in
// units of 1024 octets (RFC 9208 §5.1).
import type { ImapSession } from "../session/session.js";
import { no } from "../session/errors.js";
import { AUTHED, type Handler } from "./types.js";

async function quotaLine(s: ImapSession): Promise<string> {
  const account = await s.services.store.getAccountById(s.accountId);
  const used = await s.services.store.quotaUsage(s.accountId);
  const limit = account?.quotaBytes ?? null;
  const res = limit === null ? "" : `STORAGE ${Math.ceil(used / 1024)} ${Math.floor(limit / 1024)}`;
  return `* QUOTA "" (${res})\r\n`;
}

export const getquota: Handler<"GETQUOTA"> = {
  name: "GETQUOTA",
  states: AUTHED,
  async run(s, cmd) {
    if (cmd.args.root !== "") throw no("No such quota root", "NONEXISTENT");
    await s.write(await quotaLine(s));
  },
};

export const getquotaroot: Handler<"GETQUOTAROOT"> = {
  name: "GETQUOTAROOT",
  states: AUTHED,
  async run(s, cmd) {
    const mb = await s.mailbox(s.nameIn(cmd.args.mailbox));
    await s.write(`* QUOTAROOT ${s.nameOut(mb.name)} ""\r\n` + (await quotaLine(s)));
  },
};
