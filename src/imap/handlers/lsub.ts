// LSUB (RFC 3501 §6.3.9, IMAP4rev1): the subscribed mailboxes matching a pattern.
import { AUTHED, handler } from "./types.js";
import { fullPattern, patternMatcher } from "./mailboxes.js";

export default handler({
  name: "LSUB",
  states: AUTHED,
  async run(s, cmd) {
    const match = patternMatcher(fullPattern(s, cmd.args.reference, cmd.args.pattern));
    const all = await s.services.store.listMailboxes(s.accountId);
    const out = all.filter((m) => m.subscribed && match(m.name)).map((m) => `* LSUB () "/" ${s.nameOut(m.name)}\r\n`);
    if (out.length > 0) await s.write(out.join(""));
  },
});
