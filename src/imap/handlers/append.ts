// APPEND (RFC 9051 §6.3.12) with UIDPLUS APPENDUID (RFC 4315 §3). The message is parsed once
// here and its structure stored with it (MessageMeta.parsed), so FETCH and SEARCH never parse it
// again. Size is bounded by limits.max_message_size (the parser refuses a larger literal before
// reading it, [TOOBIG]); the account quota gives NO [OVERQUOTA] (RFC 9208 §4.3).
import { readFile } from "node:fs/promises";
import { StoreError } from "../../store/types.js";
import { audit } from "../../log/audit.js";
import { bad, no } from "../session/errors.js";
import { checkSettableFlags, normaliseFlags } from "../flags.js";
import { normaliseCrlf, parseMessage } from "../mime.js";
import { AUTHED, handler } from "./types.js";

export default handler({
  name: "APPEND",
  states: AUTHED,
  async run(s, cmd) {
    const a = cmd.args;
    const store = s.services.store;
    const mb = await store.getMailbox(s.accountId, s.nameIn(a.mailbox));
    if (!mb) throw no("Mailbox does not exist", "TRYCREATE"); // RFC 9051 §6.3.12
    const flagErr = checkSettableFlags(a.flags);
    if (flagErr) throw bad(flagErr);
    // A large literal was streamed to a file (session.streamToFile): it is read once to be parsed,
    // and the store takes the file itself over when no line ends needed fixing.
    const raw = Buffer.isBuffer(a.message) ? a.message : await readFile(a.message.path);
    const body = normaliseCrlf(raw);
    const source = !Buffer.isBuffer(a.message) && body === raw ? { path: a.message.path, size: body.length } : body;
    const max = s.services.config.limits.max_message_size;
    if (body.length > max) throw no("Message too large", "TOOBIG");
    if (body.length === 0) throw bad("Empty message");
    const account = await store.getAccountById(s.accountId);
    if (account?.quotaBytes != null) {
      const used = await store.quotaUsage(s.accountId);
      if (used + body.length > account.quotaBytes) throw no("Mailbox quota exceeded", "OVERQUOTA");
    }
    let res;
    try {
      res = await store.appendMessage(mb.id, {
        body: source,
        flags: normaliseFlags(a.flags),
        internalDate: a.date ?? new Date(),
        parsed: parseMessage(body),
      });
    } catch (e) {
      if (e instanceof StoreError && e.code === "over-quota") throw no("Mailbox quota exceeded", "OVERQUOTA");
      if (e instanceof StoreError && e.code === "not-found") throw no("Mailbox does not exist", "TRYCREATE");
      throw e;
    }
    audit(s.conn.log, "imap.append", { account: s.account?.address, mailboxId: mb.id, uid: res.uid, size: body.length });
    return { code: `APPENDUID ${res.uidValidity} ${res.uid}`, text: "APPEND completed" };
  },
});
