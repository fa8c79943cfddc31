// ENABLE (RFC 5161): CONDSTORE and QRESYNC (RFC 7162 §3.2.3: QRESYNC implies CONDSTORE),
// IMAP4rev2 (RFC 9051 §6.3.1) and UTF8=ACCEPT (RFC 6855 §3). Unknown names are ignored.
import { handler } from "./types.js";

export default handler({
  name: "ENABLE",
  states: ["auth"], // RFC 5161 §3.1: only before a mailbox is selected
  async run(s, cmd) {
    const enabled: string[] = [];
    for (const c of cmd.args.capabilities) {
      if (c === "CONDSTORE" && !s.condstore) {
        s.condstore = true;
        enabled.push(c);
      } else if (c === "QRESYNC" && !s.qresync) {
        s.qresync = true;
        s.condstore = true;
        enabled.push(c);
      } else if (c === "IMAP4REV2" && !s.rev2) {
        s.rev2 = true;
        s.utf8 = true;
        enabled.push("IMAP4rev2");
      } else if (c === "UTF8=ACCEPT" && !s.utf8) {
        s.utf8 = true;
        enabled.push(c);
      }
    }
    await s.untagged(`ENABLED${enabled.map((e) => " " + e).join("")}`);
  },
});
