// COPY (RFC 9051 §6.4.7) and MOVE (RFC 6851) with their UID forms, answering COPYUID
// (RFC 4315 §3). MOVE sends COPYUID in an untagged OK before the EXPUNGE/VANISHED responses
// (RFC 6851 §4.3).
import type { ParsedCommand } from "../parser.js";
import type { ImapSession } from "../session/session.js";
import { StoreError } from "../../store/types.js";
import { no } from "../session/errors.js";
import { formatSet } from "../sequence.js";
import { SELECTED, type Handler } from "./types.js";
import { targetUids } from "./targets.js";

async function transfer(s: ImapSession, cmd: Extract<ParsedCommand, { name: "COPY" | "MOVE" }>, move: boolean) {
  const sel = s.selected!;
  if (move && sel.readOnly) throw no("Mailbox is read-only", "READ-ONLY");
  const store = s.services.store;
  const dst = await store.getMailbox(s.accountId, s.nameIn(cmd.args.mailbox));
  if (!dst) throw no("Target mailbox does not exist", "TRYCREATE"); // RFC 9051 §6.4.7
  const uids = targetUids(s, cmd.args.set, cmd.uid);
  if (uids.length === 0) return { text: `${move ? "MOVE" : "COPY"} completed: no messages` };
  let res;
  try {
    res = move ? await store.moveMessages(sel.mailboxId, uids, dst.id) : await store.copyMessages(sel.mailboxId, uids, dst.id);
  } catch (e) {
    if (e instanceof StoreError && e.code === "over-quota") throw no("Mailbox quota exceeded", "OVERQUOTA");
    throw e;
  }
  if (res.mapping.length === 0) return { text: "No messages left to copy" };
  const code = `COPYUID ${res.uidValidity} ${formatSet(res.mapping.map((p) => p[0]))} ${formatSet(res.mapping.map((p) => p[1]))}`;
  if (!move) return { code, text: "COPY completed" };
  const lines = [`* OK [${code}] Moved\r\n`, ...sel.removeUids(res.mapping.map((p) => p[0]), s.qresync)];
  await s.write(lines.join(""));
  return { text: "MOVE completed" };
}

export const copy: Handler<"COPY"> = { name: "COPY", states: SELECTED, run: (s, cmd) => transfer(s, cmd, false) };
export const move: Handler<"MOVE"> = { name: "MOVE", states: SELECTED, run: (s, cmd) => transfer(s, cmd, true) };
