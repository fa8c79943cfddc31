// The relay check (threat model §3): decides, from the raw RCPT TO path alone, whether a
// recipient is in one of our domains, somewhere else, or an address trick to refuse.
//
// Invariants:
// - Pure: the caller passes the set of local domains (lower-case, no trailing dot).
// - A "local" verdict names exactly one plain local part in exactly one local domain: no source
//   route, no address literal, no trailing dot, no second "@", no "%" or "!" routing, no quoted
//   local part that is not also a plain dot-string. Anything else in a local domain is refused.
// - For other domains (only acceptable on submission, after AUTH) source routes, literals,
//   trailing dots and extra "@"s are still refused: the outbound queue gets plain addresses only.
// - Local parts and domains of local verdicts are lower-cased (the store's convention); an IDN
//   domain is reported in the spelling (U-label or A-label) the local domain set uses.

import { domainToASCII, domainToUnicode } from "node:url";
import { MultipleAtError, formatMailbox, parsePath } from "./parse.js";
import { SmtpError } from "./reply.js";

export type RelayReason =
  | "source-route" // "@ourdomain:user@other" (RFC 5321 §4.1.1.3 allows ignoring it; we refuse)
  | "address-literal" // "user@[127.0.0.1]"
  | "trailing-dot" // "user@ourdomain."
  | "multiple-at" // "user@other@ourdomain"
  | "routing-char" // "user%other@ourdomain", "other!user@ourdomain"
  | "quoted-special" // "\"user@other\"@ourdomain", "\"a b\"@ourdomain"
  | "not-local"; // "user@other" (only a relay attempt on MX; the caller decides)

export type RecipientVerdict =
  | { kind: "local"; local: string; domain: string; address: string }
  | { kind: "remote"; domain: string; address: string }
  | { kind: "refused"; reason: Exclude<RelayReason, "not-local"> }
  | { kind: "syntax"; error: SmtpError };

export function classifyRecipient(raw: string, o: { localDomains: ReadonlySet<string>; utf8: boolean }): RecipientVerdict {
  let path;
  try {
    path = parsePath(raw, { utf8: o.utf8, role: "recipient" });
  } catch (e) {
    if (e instanceof MultipleAtError) return { kind: "refused", reason: "multiple-at" };
    if (e instanceof SmtpError) return { kind: "syntax", error: e };
    throw e;
  }
  if (path.route.length > 0) return { kind: "refused", reason: "source-route" };
  const { mailbox } = path;
  if (mailbox.domain.kind === "literal") return { kind: "refused", reason: "address-literal" };
  if (mailbox.domain.trailingDot) return { kind: "refused", reason: "trailing-dot" };
  const domain = localName(mailbox.domain.name.toLowerCase(), o.localDomains) ?? mailbox.domain.name.toLowerCase();
  if (!o.localDomains.has(domain)) {
    return { kind: "remote", domain, address: formatMailbox({ ...mailbox, domain: { kind: "name", name: domain, trailingDot: false } }) };
  }
  // In our domains the local part must be a plain name. "%" and "!" are the old percent-hack and
  // UUCP bang-path relays; "@" can only be here inside quotes.
  if (mailbox.local.includes("@")) return { kind: "refused", reason: "quoted-special" };
  if (/[%!]/.test(mailbox.local)) return { kind: "refused", reason: "routing-char" };
  // A quoted local part is accepted only if it says the same as the unquoted one ("\"alice\"").
  if (mailbox.quoted && !/^[^\s"\\(),:;<>[\]]+$/u.test(mailbox.local)) return { kind: "refused", reason: "quoted-special" };
  if (mailbox.quoted && (mailbox.local.startsWith(".") || mailbox.local.endsWith(".") || mailbox.local.includes(".."))) {
    return { kind: "refused", reason: "quoted-special" };
  }
  const local = mailbox.local.toLowerCase();
  return { kind: "local", local, domain, address: `${local}@${domain}` };
}

/** The spelling of `domain` in `localDomains`, matching U-labels and A-labels (RFC 5890) both
 * ways: "bücher.example" finds a stored "xn--bcher-kva.example" and the reverse. */
function localName(domain: string, localDomains: ReadonlySet<string>): string | null {
  if (localDomains.has(domain)) return domain;
  const ascii = domainToASCII(domain);
  if (ascii && localDomains.has(ascii)) return ascii;
  const unicode = domainToUnicode(domain);
  if (unicode && localDomains.has(unicode)) return unicode;
  return null;
}
