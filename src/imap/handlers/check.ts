// CHECK (RFC 3501 §6.4.1, IMAP4rev1 only): every change is already durable, so it is a NOOP.
import { SELECTED, handler } from "./types.js";

export default handler({ name: "CHECK", states: SELECTED, async run() {} });
