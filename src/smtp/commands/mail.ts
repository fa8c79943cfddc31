// MAIL FROM (RFC 5321 §4.1.1.2): starts a transaction. On submission: AUTH first (RFC 4954 §6,
// 530 5.7.0), the envelope sender must be an address the account owns (threat model §2, 553
// 5.7.1), and the hourly message limit applies (451 4.7.1).

import { parseMailFrom, formatMailbox } from "../parse.js";
import { SmtpError, reply } from "../reply.js";
import { ownsAddress } from "../resolve.js";
import type { SmtpCommand } from "./types.js";

export const MAIL: SmtpCommand = {
  name: "MAIL",
  states: ["ready"],
  async run(s, args) {
    if (s.state.kind !== "ready") return;
    const helo = s.state.helo;
    if (s.role === "submission" && !s.account) throw new SmtpError(reply(530, "5.7.0", "Authentication required"));
    const m = parseMailFrom(args);
    const hasParams = m.size !== null || m.body !== "7BIT" || m.smtputf8 || m.auth !== null;
    // Service extensions exist only after EHLO (RFC 5321 §4.1.1.1).
    if (hasParams && !helo.esmtp) throw new SmtpError(reply(555, "5.5.4", "MAIL parameters require EHLO"));
    if (m.body === "BINARYMIME") throw new SmtpError(reply(504, "5.5.4", "BINARYMIME not supported")); // not advertised
    const max = s.config.limits.max_message_size;
    if (m.size !== null && m.size > max) {
      // RFC 1870 §6.1
      throw new SmtpError(reply(552, "5.3.4", `Message size exceeds fixed maximum message size (${max})`), { bad: false });
    }
    // A source route in the reverse-path is ignored (RFC 5321 §4.1.1.2, Appendix C).
    const sender = m.path ? formatSender(m.path.mailbox) : "";
    if (s.role === "submission" && s.account) {
      const account = s.account;
      if (!m.path || !(await ownsAddress(s.services.store, account, sender))) {
        s.audit("smtp.sender.refused", { account: account.address, sender, where: "envelope" }, "warn");
        throw new SmtpError(reply(553, "5.7.1", `Sender address <${sender}> not owned by ${account.address}`));
      }
      if (!s.shared.limiter.canSendMessage(account.id)) {
        s.audit("smtp.sendlimit", { account: account.address, limit: "max_messages_per_hour", value: s.config.smtp.max_messages_per_hour }, "warn");
        throw new SmtpError(reply(451, "4.7.1", "Hourly message limit reached, try again later"));
      }
    }
    s.setState({ kind: "mail", helo, tx: { id: s.newId(), sender, mail: m, recipients: [] } });
    await s.send(reply(250, "2.1.0", "Sender OK"));
  },
};

function formatSender(mb: Parameters<typeof formatMailbox>[0]): string {
  const domain = mb.domain.kind === "name" ? { ...mb.domain, name: mb.domain.name.toLowerCase() } : mb.domain;
  return formatMailbox({ ...mb, domain });
}
