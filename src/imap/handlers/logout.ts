// LOGOUT (RFC 9051 §6.1.3): untagged BYE, tagged OK, then the connection closes.
import { ANY, handler } from "./types.js";

export default handler({
  name: "LOGOUT",
  states: ANY,
  async run(s) {
    s.ending = true;
    await s.untagged("BYE Logging out");
  },
});
