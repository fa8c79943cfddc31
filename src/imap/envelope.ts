// The IMAP ENVELOPE (RFC 9051 §7.5.2): building it from a message's header fields, and rendering
// it in exact IMAP syntax.
//
// Invariants:
// - Values are as sent, unfolded and not decoded: encoded-words are left for the client.
// - Address lists are parsed leniently (RFC 5322 §3.4 plus common breakage); an unparseable
//   list yields the addresses that could be recovered, never an exception.
// - Sender and Reply-To default to From when absent or empty (RFC 9051 §7.5.2).
// - Group syntax is rendered as a start marker (NIL NIL "group" NIL) and an end marker
//   (NIL NIL NIL NIL) (RFC 9051 §7.5.2); a missing domain is "" so it is never taken for a group.

import { nstring } from "./encode.js";

export interface Address {
  name: string | null;
  adl: string | null;
  mailbox: string | null;
  host: string | null;
}

export interface Envelope {
  date: string | null;
  subject: string | null;
  from: Address[] | null;
  sender: Address[] | null;
  replyTo: Address[] | null;
  to: Address[] | null;
  cc: Address[] | null;
  bcc: Address[] | null;
  inReplyTo: string | null;
  messageId: string | null;
}

interface Field {
  name: string;
  value: string;
}

/** Most addresses kept per list (a hostile To: with a million entries stays bounded). */
export const MAX_ADDRESSES = 1000;

function first(fields: readonly Field[], name: string): string | null {
  for (const f of fields) if (f.name.toLowerCase() === name) return f.value;
  return null;
}

/** Builds the envelope from the header fields of a message (first occurrence of each field). */
export function parseEnvelope(fields: readonly Field[]): Envelope {
  const list = (name: string): Address[] | null => {
    const v = first(fields, name);
    if (v === null) return null;
    const a = parseAddressList(v);
    return a.length > 0 ? a : null;
  };
  const from = list("from");
  return {
    date: first(fields, "date"),
    subject: first(fields, "subject"),
    from,
    sender: list("sender") ?? from, // RFC 9051 §7.5.2
    replyTo: list("reply-to") ?? from, // RFC 9051 §7.5.2
    to: list("to"),
    cc: list("cc"),
    bcc: list("bcc"),
    inReplyTo: first(fields, "in-reply-to"),
    messageId: first(fields, "message-id"),
  };
}

type Tok = { k: "word"; v: string } | { k: "quoted"; v: string } | { k: "comment"; v: string } | { k: "angle"; v: string } | { k: "sp"; v: string } | { k: "ch"; v: string };

function lex(s: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (c === " " || c === "\t" || c === "\r" || c === "\n") {
      while (i < s.length && " \t\r\n".includes(s[i]!)) i++;
      out.push({ k: "sp", v: " " });
    } else if (c === '"') {
      let v = "";
      i++;
      while (i < s.length && s[i] !== '"') {
        if (s[i] === "\\" && i + 1 < s.length) i++;
        v += s[i];
        i++;
      }
      i++;
      out.push({ k: "quoted", v });
    } else if (c === "(") {
      let depth = 1;
      let v = "";
      i++;
      while (i < s.length) {
        if (s[i] === "\\" && i + 1 < s.length) {
          v += s[i + 1];
          i += 2;
          continue;
        }
        if (s[i] === "(") depth++;
        else if (s[i] === ")" && --depth === 0) break;
        v += s[i];
        i++;
      }
      i++;
      out.push({ k: "comment", v });
    } else if (c === "<") {
      const j = s.indexOf(">", i);
      const e = j < 0 ? s.length : j;
      out.push({ k: "angle", v: s.slice(i + 1, e) });
      i = e + 1;
    } else if (c === "," || c === ":" || c === ";") {
      out.push({ k: "ch", v: c });
      i++;
    } else {
      let j = i;
      while (j < s.length && !' \t\r\n"(<,:;'.includes(s[j]!)) j++;
      out.push({ k: "word", v: s.slice(i, j) });
      i = j;
    }
  }
  return out;
}

/** An addr-spec as IMAP shows it: comments and white space dropped, quoted local parts unquoted
 * (RFC 5322 §3.4.1; as Dovecot does: `"john doe"@x` has mailbox `john doe`). */
function cleanSpec(toks: readonly Tok[]): string {
  let s = "";
  for (const t of toks) if (t.k !== "comment" && t.k !== "sp") s += t.v;
  return s;
}

/** Splits an addr-spec at its last "@" (RFC 5322 §3.4.1). */
function addrSpec(s: string, name: string | null, adl: string | null): Address {
  const at = s.lastIndexOf("@");
  if (at < 0) return { name, adl, mailbox: s, host: "" };
  return { name, adl, mailbox: s.slice(0, at), host: s.slice(at + 1) };
}

/** Renders a phrase from tokens: words joined by single spaces, quoted strings unquoted. */
function phrase(toks: Tok[]): string | null {
  let s = "";
  for (const t of toks) {
    if (t.k === "comment") continue;
    if (t.k === "sp") {
      if (s.length > 0 && !s.endsWith(" ")) s += " ";
      continue;
    }
    s += t.v;
  }
  s = s.trim();
  return s.length > 0 ? s : null;
}

function mailbox(toks: Tok[]): Address | null {
  const angle = toks.findIndex((t) => t.k === "angle");
  if (angle >= 0) {
    let spec = (toks[angle] as { v: string }).v.trim();
    let adl: string | null = null;
    // RFC 5322 §4.4 obs-route: <@a,@b:user@host>
    const m = /^(@[^:]*):(.*)$/s.exec(spec);
    if (m) {
      adl = m[1]!.replace(/\s+/g, "");
      spec = m[2]!;
    }
    const clean = cleanSpec(lex(spec));
    if (clean.length === 0) return null;
    return addrSpec(clean, phrase(toks.slice(0, angle)), adl);
  }
  const spec = cleanSpec(toks);
  if (spec.length === 0) return null;
  const comment = toks.find((t) => t.k === "comment");
  const name = comment && comment.v.trim().length > 0 ? comment.v.trim() : null;
  return addrSpec(spec, name, null);
}

/** Parses an address list (RFC 5322 §3.4) into IMAP address structures, groups included. */
export function parseAddressList(value: string): Address[] {
  const toks = lex(value);
  const out: Address[] = [];
  let cur: Tok[] = [];
  let inGroup = false;
  const flush = () => {
    const a = mailbox(cur);
    if (a && out.length < MAX_ADDRESSES) out.push(a);
    cur = [];
  };
  for (const t of toks) {
    if (t.k === "ch" && t.v === ":" && !inGroup && !cur.some((x) => x.k === "angle")) {
      // RFC 5322 §3.4 group: display-name ":" [group-list] ";"
      out.push({ name: null, adl: null, mailbox: phrase(cur) ?? "", host: null });
      cur = [];
      inGroup = true;
    } else if (t.k === "ch" && t.v === ";" && inGroup) {
      flush();
      out.push({ name: null, adl: null, mailbox: null, host: null });
      inGroup = false;
    } else if (t.k === "ch" && t.v === ",") {
      flush();
    } else {
      cur.push(t);
    }
  }
  flush();
  if (inGroup) out.push({ name: null, adl: null, mailbox: null, host: null }); // unterminated group
  return out;
}

function renderAddresses(list: Address[] | null): string {
  if (!list || list.length === 0) return "NIL";
  return "(" + list.map((a) => `(${nstring(a.name)} ${nstring(a.adl)} ${nstring(a.mailbox)} ${nstring(a.host)})`).join("") + ")";
}

/** RFC 9051 §9 envelope = "(" env-date SP env-subject SP env-from SP env-sender SP env-reply-to
 * SP env-to SP env-cc SP env-bcc SP env-in-reply-to SP env-message-id ")" */
export function renderEnvelope(e: Envelope): string {
  return (
    "(" +
    [
      nstring(e.date),
      nstring(e.subject),
      renderAddresses(e.from),
      renderAddresses(e.sender),
      renderAddresses(e.replyTo),
      renderAddresses(e.to),
      renderAddresses(e.cc),
      renderAddresses(e.bcc),
      nstring(e.inReplyTo),
      nstring(e.messageId),
    ].join(" ") +
    ")"
  );
}
