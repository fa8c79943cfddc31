// QUIT (RFC 1939 §4, §6). In AUTHORIZATION it just says goodbye. In TRANSACTION it moves the
// session to UPDATE, where the messages marked as deleted are removed from INBOX in one atomic
// store.expunge (so IMAP sessions on INBOX see EXPUNGE), then the lock is released.
// This is the only code path that deletes mail.

import { defineCommand } from "./types.js";
import { Pop3Error } from "../errors.js";
import { audit } from "../../log/audit.js";

export const QUIT = defineCommand({
  name: "QUIT",
  states: ["authorization", "transaction"],
  args: { min: 0, max: 0 },
  usage: "QUIT",
  async run(session, state) {
    session.end();
    if (state.kind === "authorization") {
      await session.reply("+OK Portcullis POP3 signing off");
      return;
    }
    const deleteUids = state.messages.filter((e) => e.deleted).map((e) => e.meta.uid);
    const update = { kind: "update" as const, account: state.account, inbox: state.inbox, deleteUids, release: state.release };
    session.state = update;
    let removed = 0;
    if (deleteUids.length > 0) {
      try {
        // RFC 1939 §6: deletions take effect only here, all together.
        removed = (await session.services.store.expunge(update.inbox.id, deleteUids)).length;
      } catch (err) {
        audit(session.conn.log, "session.error", { protocol: "pop3", account: state.account.address, error: err instanceof Error ? err.message : String(err) }, "error");
        update.release();
        // RFC 1939 §6: "-ERR some deleted messages not removed".
        throw new Pop3Error("-ERR [SYS/TEMP] some deleted messages not removed");
      }
    }
    update.release();
    audit(session.conn.log, "pop3.update", { account: state.account.address, deleted: removed, requested: deleteUids.length });
    await session.reply(`+OK Portcullis POP3 signing off (${removed} messages deleted, ${state.messages.length - deleteUids.length} left)`);
  },
});
