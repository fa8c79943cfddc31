// ID (RFC 2971): the client's fields are logged (bounded by the parser); we name ourselves.
import { ANY, handler } from "./types.js";

export default handler({
  name: "ID",
  states: ANY,
  async run(s, cmd) {
    if (cmd.args.params) {
      const fields = Object.fromEntries(cmd.args.params.slice(0, 10).map(([k, v]) => [k.slice(0, 30), (v ?? "").slice(0, 100)]));
      s.conn.log.info({ client: fields }, "imap: client ID");
    }
    await s.untagged('ID ("name" "Portcullis")');
  },
});
