// SUBSCRIBE and UNSUBSCRIBE (RFC 9051 §6.3.7, §6.3.8). Only existing mailboxes can be
// subscribed (the store keeps the flag on the mailbox).
import { AUTHED, type Handler } from "./types.js";

export const subscribe: Handler<"SUBSCRIBE"> = {
  name: "SUBSCRIBE",
  states: AUTHED,
  async run(s, cmd) {
    const mb = await s.mailbox(s.nameIn(cmd.args.mailbox));
    await s.services.store.setSubscribed(mb.id, true);
  },
};

export const unsubscribe: Handler<"UNSUBSCRIBE"> = {
  name: "UNSUBSCRIBE",
  states: AUTHED,
  async run(s, cmd) {
    const mb = await s.mailbox(s.nameIn(cmd.args.mailbox));
    await s.services.store.setSubscribed(mb.id, false);
  },
};
