// RENAME (RFC 9051 §6.3.6). Renaming INBOX moves all its messages to a new mailbox and leaves
// INBOX empty (RFC 9051 §6.3.6); other renames move the mailbox and its children.
import { StoreError } from "../../store/types.js";
import { bad, no } from "../session/errors.js";
import { validName } from "./create.js";
import { AUTHED, handler } from "./types.js";

export default handler({
  name: "RENAME",
  states: AUTHED,
  async run(s, cmd) {
    const from = s.nameIn(cmd.args.from);
    const to = s.nameIn(cmd.args.to);
    const invalid = validName(to);
    if (invalid) throw bad(invalid);
    const store = s.services.store;
    const src = await s.mailbox(from);
    if (to === "INBOX" || (await store.getMailbox(s.accountId, to))) throw no("Target mailbox already exists", "ALREADYEXISTS");
    // INBOX may move its messages to one of its own children ("INBOX/Old"); others cannot nest in themselves.
    if (from !== "INBOX" && to.startsWith(from + "/")) throw no("Cannot rename a mailbox into itself", "CANNOT");
    try {
      if (from === "INBOX") {
        const dst = await store.createMailbox(s.accountId, to);
        const uids = (await store.listMessages(src.id)).map((m) => m.uid);
        if (uids.length > 0) await store.moveMessages(src.id, uids, dst.id);
        return;
      }
      await store.renameMailbox(src.id, to);
      if (s.selected?.mailboxId === src.id) s.selected.name = to;
    } catch (e) {
      if (e instanceof StoreError && e.code === "exists") throw no("Target mailbox already exists", "ALREADYEXISTS");
      if (e instanceof StoreError) throw no(e.message, "CANNOT");
      throw e;
    }
  },
});
