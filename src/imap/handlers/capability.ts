// CAPABILITY (RFC 9051 §6.1.1): the list depends on TLS and login state (session.capabilities).
import { ANY, handler } from "./types.js";

export default handler({
  name: "CAPABILITY",
  states: ANY,
  async run(s) {
    await s.untagged(`CAPABILITY ${s.capabilities().join(" ")}`);
  },
});
