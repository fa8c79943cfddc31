// DELETE (RFC 9051 §6.3.5): INBOX cannot be deleted; children of a deleted mailbox stay (they
// are listed with their parent as \NonExistent). A session that has the mailbox selected gets
// BYE from its store subscription.
import { no } from "../session/errors.js";
import { AUTHED, handler } from "./types.js";

export default handler({
  name: "DELETE",
  states: AUTHED,
  async run(s, cmd) {
    const name = s.nameIn(cmd.args.mailbox);
    if (name === "INBOX") throw no("INBOX cannot be deleted", "CANNOT");
    const mb = await s.mailbox(name);
    if (s.selected?.mailboxId === mb.id) s.unselect(); // RFC 9051 §6.3.5 leaves no mailbox selected
    await s.services.store.deleteMailbox(mb.id);
  },
});
