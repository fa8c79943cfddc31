// IDLE (RFC 2177, RFC 9051 §6.3.13): "+ idling", then every mailbox update is pushed as soon as
// the store reports it, until the client sends DONE.
import { IMAP_MAX_COMMAND_LINE } from "../../net/limits.js";
import { bad } from "../session/errors.js";
import { AUTHED, handler } from "./types.js";

export default handler({
  name: "IDLE",
  states: AUTHED,
  async run(s) {
    await s.write("+ idling\r\n");
    const sel = s.selected;
    let pushing: Promise<void> = Promise.resolve();
    let scheduled = false;
    let done = false;
    const push = (): void => {
      if (scheduled) return;
      scheduled = true;
      // Coalesce a burst of events (one delivery to several mailboxes, a bulk STORE).
      setImmediate(() => {
        scheduled = false;
        if (done) return;
        pushing = pushing
          .then(() => s.flushUpdates(true))
          .then(() => {
            if (s.ending) void s.conn.close(); // the mailbox was deleted: BYE was sent
          })
          .catch(() => undefined);
      });
    };
    if (sel) {
      sel.onEvent = push;
      if (sel.hasPending) push();
    }
    try {
      const line = await s.conn.readLine(IMAP_MAX_COMMAND_LINE);
      if (line === null) {
        s.ending = true;
        return { silent: true };
      }
      await pushing;
      if (line.bytes.toString("latin1").trim().toUpperCase() !== "DONE") throw bad("Expected DONE to end IDLE");
    } finally {
      done = true;
      if (sel) sel.onEvent = null;
    }
    return { text: "IDLE terminated" };
  },
});
