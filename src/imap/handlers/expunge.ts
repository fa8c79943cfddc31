// EXPUNGE (RFC 9051 §6.4.3) and UID EXPUNGE (RFC 4315 §2.1): removes \Deleted messages and
// announces each (EXPUNGE, or VANISHED once QRESYNC is enabled, RFC 7162 §3.2.10).
import { no } from "../session/errors.js";
import { SELECTED, handler } from "./types.js";
import { targetUids } from "./targets.js";
import { toWire } from "../session/modseq.js";

export default handler({
  name: "EXPUNGE",
  states: SELECTED,
  async run(s, cmd) {
    const sel = s.selected!;
    if (sel.readOnly) throw no("Mailbox is read-only", "READ-ONLY");
    const store = s.services.store;
    let removed: number[];
    if (cmd.args.set) {
      const uids = targetUids(s, cmd.args.set, true);
      const metas = uids.length > 0 ? await store.getMessages(sel.mailboxId, uids) : [];
      const deleted = metas.filter((m) => m.flags.includes("\\Deleted")).map((m) => m.uid);
      removed = deleted.length > 0 ? await store.expunge(sel.mailboxId, deleted) : [];
    } else {
      removed = await store.expunge(sel.mailboxId);
    }
    const lines = sel.removeUids(removed, s.qresync);
    if (lines.length > 0) await s.write(lines.join(""));
    if (s.condstore) {
      // RFC 7162 §3.1.10: with CONDSTORE the tagged OK carries the new HIGHESTMODSEQ.
      const st = await store.mailboxStatus(sel.mailboxId);
      return { code: `HIGHESTMODSEQ ${toWire(st.highestModseq)}`, text: "EXPUNGE completed" };
    }
  },
});
