// UNSELECT (RFC 3691, RFC 9051 §6.4.2): leaves the Selected state without expunging.
import { SELECTED, handler } from "./types.js";

export default handler({
  name: "UNSELECT",
  states: SELECTED,
  async run(s) {
    s.unselect();
  },
});
