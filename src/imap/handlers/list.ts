// LIST (RFC 9051 §6.3.9) with LIST-EXTENDED (RFC 5258), CHILDREN (RFC 3348), SPECIAL-USE
// (RFC 6154) and LIST-STATUS (RFC 5819).
import { AUTHED, handler } from "./types.js";
import { candidates, fullPattern, patternMatcher, statusLine } from "./mailboxes.js";

export default handler({
  name: "LIST",
  states: AUTHED,
  async run(s, cmd) {
    const a = cmd.args;
    if (!a.extended && a.patterns.length === 1 && a.patterns[0] === "") {
      // RFC 9051 §6.3.9: the hierarchy delimiter and root.
      await s.untagged('LIST (\\Noselect) "/" ""');
      return;
    }
    const matchers = a.patterns.map((p) => patternMatcher(fullPattern(s, a.reference, p)));
    const all = await s.services.store.listMailboxes(s.accountId);
    const out: string[] = [];
    const selected = (mb: (typeof all)[number] | null): boolean =>
      !!mb && (!a.select.subscribed || mb.subscribed) && (!a.select.specialUse || mb.specialUse !== null);
    const filtering = a.select.subscribed || a.select.specialUse;
    for (const c of candidates(all)) {
      if (!matchers.some((m) => m(c.name))) continue;
      const mb = c.mailbox;
      let childInfo = "";
      if (filtering && !selected(mb)) {
        // RFC 5258 §3.5 RECURSIVEMATCH: a parent whose descendants match is listed with CHILDINFO.
        const descendantMatches = a.select.recursiveMatch && all.some((m) => m.name.startsWith(c.name + "/") && selected(m));
        if (!descendantMatches) continue;
        childInfo = ` ("CHILDINFO" (${a.select.subscribed ? '"SUBSCRIBED"' : '"SPECIAL-USE"'}))`;
      }
      const attrs: string[] = [];
      if (!mb) attrs.push(a.extended ? "\\NonExistent" : "\\Noselect");
      attrs.push(c.hasChildren ? "\\HasChildren" : "\\HasNoChildren");
      if (mb?.specialUse) attrs.push(mb.specialUse);
      if (mb?.subscribed && (a.select.subscribed || a.return.subscribed)) attrs.push("\\Subscribed");
      out.push(`* LIST (${attrs.join(" ")}) "/" ${s.nameOut(c.name)}${childInfo}\r\n`);
      if (mb && a.return.status) out.push(await statusLine(s, mb, a.return.status)); // RFC 5819 §2
      if (out.length >= 256) await s.write(out.splice(0).join(""));
    }
    if (out.length > 0) await s.write(out.join(""));
  },
});
