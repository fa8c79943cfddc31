// STORE and UID STORE (RFC 9051 §6.4.6) with UNCHANGEDSINCE (RFC 7162 §3.1.3): answers with
// the new flags of each message (unless .SILENT), and [MODIFIED set] for messages whose MODSEQ
// was above UNCHANGEDSINCE.
import { bad, no } from "../session/errors.js";
import { checkSettableFlags, normaliseFlags, renderFlagList } from "../flags.js";
import { formatSet } from "../sequence.js";
import { SELECTED, handler } from "./types.js";
import { targetUids } from "./targets.js";
import { fromWire, toWire } from "../session/modseq.js";

export default handler({
  name: "STORE",
  states: SELECTED,
  async run(s, cmd) {
    const sel = s.selected!;
    const a = cmd.args;
    if (sel.readOnly) throw no("Mailbox is read-only", "READ-ONLY");
    const err = checkSettableFlags(a.flags);
    if (err) throw bad(err);
    if (a.unchangedSince !== null) s.condstore = true; // RFC 7162 §3.1: CONDSTORE-enabling
    const uids = targetUids(s, a.set, cmd.uid);
    if (uids.length === 0) return;
    const store = s.services.store;
    const res = await store.storeFlags(sel.mailboxId, uids, a.op, normaliseFlags(a.flags), a.unchangedSince === null ? undefined : fromWire(a.unchangedSince));
    sel.dropOwn(res.changed);
    const modified = new Set(res.modified);
    const changed = new Map(res.changed.map((c) => [c.uid, c]));
    const withUid = cmd.uid || s.condstore;
    const lines: string[] = [];
    const unchanged = uids.filter((u) => !modified.has(u) && !changed.has(u));
    const current = new Map(
      !a.silent && unchanged.length > 0 ? (await store.getMessages(sel.mailboxId, unchanged)).map((m) => [m.uid, m]) : [],
    );
    for (const uid of uids) {
      if (modified.has(uid)) continue;
      const seq = sel.seqOf(uid);
      if (seq === 0) continue;
      const c = changed.get(uid);
      const flags = c ? c.flags : current.get(uid)?.flags;
      const modseq = c ? c.modseq : current.get(uid)?.modseq;
      if (flags === undefined) continue;
      const extra = (withUid ? ` UID ${uid}` : "") + (s.condstore && modseq !== undefined ? ` MODSEQ (${toWire(modseq)})` : "");
      if (a.silent) {
        const fl = sel.noteFlags(flags);
        if (fl) lines.push(fl);
        // RFC 7162 §3.1.3: with CONDSTORE the new MODSEQ is still reported.
        if (c && s.condstore) lines.push(`* ${seq} FETCH (${extra.trim()})\r\n`);
        continue;
      }
      const fl = sel.noteFlags(flags); // a new keyword: FLAGS first (RFC 9051 §7.3.5)
      if (fl) lines.push(fl);
      lines.push(`* ${seq} FETCH (FLAGS ${renderFlagList(flags)}${extra})\r\n`);
      if (lines.length >= 512) await s.write(lines.splice(0).join(""));
    }
    if (lines.length > 0) await s.write(lines.join(""));
    if (res.modified.length > 0) {
      const nums = cmd.uid ? res.modified : res.modified.map((u) => sel.seqOf(u)).filter((n) => n > 0);
      return { code: `MODIFIED ${formatSet(nums, { sort: true })}`, text: "Some messages were modified meanwhile" };
    }
  },
});
