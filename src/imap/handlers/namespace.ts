// NAMESPACE (RFC 2342, RFC 9051 §6.3.10): one personal namespace, "/" as separator.
import { AUTHED, handler } from "./types.js";

export default handler({
  name: "NAMESPACE",
  states: AUTHED,
  async run(s) {
    await s.untagged('NAMESPACE (("" "/")) NIL NIL');
  },
});
