// CLOSE (RFC 9051 §6.4.1): silently expunges \Deleted messages (unless read-only), then leaves
// the Selected state. No EXPUNGE responses are sent.
import { SELECTED, handler } from "./types.js";

export default handler({
  name: "CLOSE",
  states: SELECTED,
  async run(s) {
    const sel = s.selected!;
    if (!sel.readOnly) await s.services.store.expunge(sel.mailboxId);
    s.unselect();
  },
});
