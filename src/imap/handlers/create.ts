// CREATE (RFC 9051 §6.3.4) with CREATE-SPECIAL-USE (RFC 6154 §3). Missing superior names are
// created too (RFC 9051 §6.3.4 SHOULD); INBOX and existing names are refused.
import type { SpecialUse } from "../../store/types.js";
import { StoreError } from "../../store/types.js";
import { bad, no } from "../session/errors.js";
import { AUTHED, handler } from "./types.js";

const USES = new Set(["\\Sent", "\\Drafts", "\\Trash", "\\Junk", "\\Archive", "\\All", "\\Flagged"]);

export function validName(name: string): string | null {
  if (name === "" ) return "Empty mailbox name";
  if (name.startsWith("/") || name.includes("//")) return "Invalid hierarchy in mailbox name";
  if (/[\x00-\x1f\x7f*%]/.test(name)) return "Invalid characters in mailbox name";
  if (Buffer.byteLength(name) > 1000) return "Mailbox name too long";
  return null;
}

export default handler({
  name: "CREATE",
  states: AUTHED,
  async run(s, cmd) {
    const name = s.nameIn(cmd.args.mailbox);
    const invalid = validName(name);
    if (invalid) throw bad(invalid);
    if (name === "INBOX") throw no("INBOX always exists", "ALREADYEXISTS");
    let use: SpecialUse | null = null;
    for (const u of cmd.args.specialUse) {
      const canon = [...USES].find((x) => x.toLowerCase() === u.toLowerCase());
      if (!canon || use) throw no(`Unsupported special use ${u.slice(0, 20)}`, "USEATTR"); // RFC 6154 §3
      use = canon as SpecialUse;
    }
    const store = s.services.store;
    if (await store.getMailbox(s.accountId, name)) throw no("Mailbox already exists", "ALREADYEXISTS");
    const parts = name.split("/");
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join("/");
      if (!(await store.getMailbox(s.accountId, parent))) await store.createMailbox(s.accountId, parent).catch(ignoreExists);
    }
    try {
      await store.createMailbox(s.accountId, name, use);
    } catch (e) {
      if (e instanceof StoreError && e.code === "exists") throw no("Mailbox already exists", "ALREADYEXISTS");
      if (e instanceof StoreError && e.code === "invalid") throw no(e.message, "CANNOT");
      throw e;
    }
  },
});

function ignoreExists(e: unknown): void {
  if (!(e instanceof StoreError && e.code === "exists")) throw e;
}
