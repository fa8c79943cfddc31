// RCPT TO (RFC 5321 §4.1.1.3): adds a recipient. The relay check (relay.ts) decides local /
// remote / trick; MX accepts only existing local recipients (aliases, plus-addressing and the
// domain's catch-all included); submission also queues remote recipients, within the daily
// recipient limit.

import { parseRcptTo, nonAsciiWithoutSmtputf8 } from "../parse.js";
import { classifyRecipient, type RecipientVerdict } from "../relay.js";
import { SmtpError, reply } from "../reply.js";
import { resolveLocal } from "../resolve.js";
import type { Session } from "../session.js";
import type { Recipient } from "../state.js";
import type { SmtpCommand } from "./types.js";

/** RFC 5321 §4.5.1: "Postmaster" without a domain reaches the postmaster of the server's domain. */
async function postmasterVerdict(s: Session, domains: Set<string>): Promise<RecipientVerdict> {
  const parts = s.hostname.toLowerCase().split(".");
  for (let i = 0; i < parts.length; i++) {
    const d = parts.slice(i).join(".");
    if (domains.has(d)) return { kind: "local", local: "postmaster", domain: d, address: `postmaster@${d}` };
  }
  const first = [...domains].sort()[0];
  if (first) return { kind: "local", local: "postmaster", domain: first, address: `postmaster@${first}` };
  return { kind: "syntax", error: new SmtpError(reply(550, "5.1.1", "No postmaster here")) };
}

export const RCPT: SmtpCommand = {
  name: "RCPT",
  states: ["mail", "rcpt"],
  async run(s, args) {
    if (s.state.kind !== "mail" && s.state.kind !== "rcpt") return;
    const { helo, tx } = s.state;
    const r = parseRcptTo(args);
    if (!tx.mail.smtputf8 && /[^\x00-\x7f]/.test(r.raw)) throw nonAsciiWithoutSmtputf8(); // RFC 6531 §3.4
    if (tx.recipients.length >= s.config.smtp.max_recipients) {
      // RFC 5321 §4.5.3.1.10: 452 and the client sends the rest in another transaction.
      throw new SmtpError(reply(452, "4.5.3", "Too many recipients"));
    }
    const domains = await s.localDomains();
    const verdict = r.postmaster ? await postmasterVerdict(s, domains) : classifyRecipient(r.raw, { localDomains: domains, utf8: tx.mail.smtputf8 });
    let recipient: Recipient;
    switch (verdict.kind) {
      case "syntax":
        throw verdict.error;
      case "refused":
        s.audit("smtp.relay.refused", { recipient: r.raw, reason: verdict.reason, sender: tx.sender }, "warn");
        throw new SmtpError(reply(550, "5.7.1", "Relay access denied"));
      case "remote":
        if (s.role !== "submission" || !s.account) {
          s.audit("smtp.relay.refused", { recipient: r.raw, reason: "not-local", sender: tx.sender }, "warn");
          throw new SmtpError(reply(550, "5.7.1", "Relay access denied"));
        }
        recipient = { kind: "remote", address: verdict.address, domain: verdict.domain };
        break;
      case "local": {
        const accounts = await resolveLocal(s.services.store, verdict.local, verdict.domain, { catchAll: true });
        if (accounts.length === 0) {
          s.audit("smtp.rcpt.refused", { recipient: verdict.address, reason: "unknown-user", sender: tx.sender }, "warn");
          throw new SmtpError(reply(550, "5.1.1", `<${verdict.address}>: Recipient address rejected: User unknown`));
        }
        for (const a of accounts) {
          if (a.quotaBytes !== null && (await s.services.store.quotaUsage(a.id)) >= a.quotaBytes) {
            s.audit("smtp.rcpt.refused", { recipient: verdict.address, reason: "over-quota", sender: tx.sender }, "warn");
            throw new SmtpError(reply(452, "4.2.2", `<${verdict.address}>: Mailbox full`));
          }
        }
        recipient = { kind: "local", address: verdict.address, accountIds: accounts.map((a) => a.id) };
        break;
      }
    }
    if (s.role === "submission" && s.account) {
      const all = [...tx.recipients.map((x) => x.address), recipient.address];
      if (!s.shared.limiter.canSendTo(s.account.id, all)) {
        s.audit("smtp.sendlimit", { account: s.account.address, limit: "max_recipients_per_day", value: s.config.smtp.max_recipients_per_day }, "warn");
        throw new SmtpError(reply(451, "4.7.1", "Daily recipient limit reached, try again later"));
      }
    }
    tx.recipients.push(recipient);
    s.setState({ kind: "rcpt", helo, tx });
    await s.send(reply(250, "2.1.5", "Recipient OK"));
  },
};
