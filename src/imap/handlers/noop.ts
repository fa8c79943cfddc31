// NOOP (RFC 9051 §6.1.2): does nothing; the dispatcher announces queued mailbox updates.
import { ANY, handler } from "./types.js";

export default handler({ name: "NOOP", states: ANY, async run() {} });
