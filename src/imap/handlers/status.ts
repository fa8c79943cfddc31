// STATUS (RFC 9051 §6.3.11; SIZE RFC 8438; HIGHESTMODSEQ RFC 7162 §3.1.6).
import { AUTHED, handler } from "./types.js";
import { statusLine } from "./mailboxes.js";

export default handler({
  name: "STATUS",
  states: AUTHED,
  async run(s, cmd) {
    const mb = await s.mailbox(s.nameIn(cmd.args.mailbox));
    await s.write(await statusLine(s, mb, cmd.args.items));
  },
});
