// SELECT and EXAMINE (RFC 9051 §6.3.2, §6.3.3) with CONDSTORE (RFC 7162 §3.1.8) and QRESYNC
// (RFC 7162 §3.2.5): opens the session's view of a mailbox and announces its state.
//
// The store subscription is taken before the message list is read, so no change can fall
// between the snapshot and the first queued event (events about UIDs already listed are
// ignored by the view). The list is the shared listing of views.ts, current when handed out.
import type { Handler } from "./types.js";
import { AUTHED } from "./types.js";
import type { ImapSession } from "../session/session.js";
import type { ParsedCommand } from "../parser.js";
import { SelectedMailbox } from "../session/selected.js";
import { bad } from "../session/errors.js";
import { renderFlagList, renderPermanentFlags, SYSTEM_FLAGS } from "../flags.js";
import { formatSet, resolveUids } from "../sequence.js";
import { fromWire, toWire } from "../session/modseq.js";

type Cmd = Extract<ParsedCommand, { name: "SELECT" | "EXAMINE" }>;

async function open(s: ImapSession, cmd: Cmd, readOnly: boolean) {
  const hadSelected = s.selected !== null;
  s.unselect();
  // RFC 7162 §3.2.11 / RFC 9051 §6.3.2: the previous mailbox is closed first.
  if (hadSelected) await s.untagged("OK [CLOSED] Previous mailbox closed");
  if (cmd.args.qresync && !s.qresync) throw bad("QRESYNC parameter requires ENABLE QRESYNC"); // RFC 7162 §3.2.5
  if (cmd.args.condstore) s.condstore = true; // RFC 7162 §3.1.8 CONDSTORE enabling
  const store = s.services.store;
  const name = s.nameIn(cmd.args.mailbox);
  const mb0 = await s.mailbox(name);
  const sel = new SelectedMailbox(store, mb0, [], readOnly);
  try {
    // The shared listing, current as of its status (views.ts): no re-read of every row.
    const listing = await s.shared.views.get(mb0.id);
    const mb = { ...mb0, uidNext: listing.status.uidNext, highestModseq: listing.status.highestModseq };
    sel.uids = listing.uids.slice(); // the session's own copy: it changes as updates are announced
    const kw = listing.keywords;
    const firstUnseen = listing.firstUnseen;
    for (const k of kw) sel.keywords.add(k);
    const lines: string[] = [];
    lines.push(`* FLAGS ${renderFlagList([...SYSTEM_FLAGS, ...kw])}\r\n`);
    lines.push(`* ${sel.uids.length} EXISTS\r\n`);
    if (!s.rev2) {
      lines.push("* 0 RECENT\r\n"); // RFC 3501 §7.3.2; \Recent is not kept (RFC 9051 dropped it)
      if (firstUnseen > 0) lines.push(`* OK [UNSEEN ${firstUnseen}] First unseen message\r\n`);
    }
    lines.push(`* OK [UIDVALIDITY ${mb.uidValidity}] UIDs valid\r\n`);
    lines.push(`* OK [UIDNEXT ${mb.uidNext}] Predicted next UID\r\n`);
    lines.push(`* OK [PERMANENTFLAGS ${readOnly ? "()" : renderPermanentFlags(kw)}] Flags permitted\r\n`);
    lines.push(`* OK [HIGHESTMODSEQ ${toWire(mb.highestModseq)}] Highest\r\n`); // RFC 7162 §3.1.2.1
    if (s.rev2) lines.push(`* LIST () "/" ${s.nameOut(mb.name)}\r\n`); // RFC 9051 §6.3.2
    const q = cmd.args.qresync;
    if (q && q.uidValidity === mb.uidValidity) {
      // RFC 7162 §3.2.5.1: report what changed since the client's MODSEQ.
      const changes = await store.changesSince(mb.id, fromWire(q.modseq));
      let vanished = changes.vanished;
      if (q.knownUids) {
        const known = new Set(resolveUids(q.knownUids, [...vanished].sort((a, b) => a - b)));
        vanished = vanished.filter((u) => known.has(u));
      }
      if (vanished.length > 0) lines.push(`* VANISHED (EARLIER) ${formatSet(vanished, { sort: true })}\r\n`);
      for (const m of changes.changed) {
        const seq = sel.seqOf(m.uid);
        if (seq > 0) lines.push(`* ${seq} FETCH (UID ${m.uid} FLAGS ${renderFlagList(m.flags)} MODSEQ (${toWire(m.modseq)}))\r\n`);
      }
    }
    await s.write(lines.join(""));
  } catch (e) {
    sel.close();
    throw e;
  }
  s.selected = sel;
  s.state = "selected";
  return { code: readOnly ? "READ-ONLY" : "READ-WRITE", text: `${cmd.name} completed` };
}

export const select: Handler<"SELECT"> = { name: "SELECT", states: AUTHED, run: (s, cmd) => open(s, cmd, false) };
export const examine: Handler<"EXAMINE"> = { name: "EXAMINE", states: AUTHED, run: (s, cmd) => open(s, cmd, true) };
