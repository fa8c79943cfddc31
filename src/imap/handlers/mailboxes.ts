// Shared by LIST, LSUB and STATUS: LIST pattern matching (RFC 9051 §6.3.9: "*" matches across
// the "/" separator, "%" does not), mailbox attributes (CHILDREN RFC 3348, SPECIAL-USE RFC 6154)
// and STATUS item rendering (RFC 9051 §6.3.11, RFC 8438 SIZE, RFC 7162 HIGHESTMODSEQ).
import type { Mailbox } from "../../store/types.js";
import type { StatusItem } from "../commands.js";
import type { ImapSession } from "../session/session.js";
import { mailboxFromWire } from "../encode.js";
import { toWire } from "../session/modseq.js";

/** Reference and pattern joined (RFC 9051 §6.3.9), in UTF-8, INBOX spelled canonically. */
export function fullPattern(s: ImapSession, reference: string, pattern: string): string {
  const ref = mailboxFromWire(reference, s.utf8);
  const pat = mailboxFromWire(pattern, s.utf8);
  let full = ref === "" || ref.endsWith("/") || pat.startsWith("/") ? ref + pat : ref + "/" + pat;
  if (/^inbox(\/|$)/i.test(full)) full = "INBOX" + full.slice(5);
  return full;
}

/** A matcher for a LIST pattern: "*" matches anything, "%" anything but "/" (RFC 9051 §6.3.9).
 * Dynamic programming over (pattern, name) positions: O(len(pattern) * len(name)) whatever the
 * pattern, so a client cannot make matching explode (no backtracking regular expression). */
export function patternMatcher(pattern: string): (name: string) => boolean {
  const p = [...pattern];
  return (name: string) => {
    const n = [...name];
    // row[j]: does p[0..i) match n[0..j)?
    let row = new Array<boolean>(n.length + 1).fill(false);
    row[0] = true;
    for (let i = 0; i < p.length; i++) {
      const ch = p[i]!;
      const next = new Array<boolean>(n.length + 1).fill(false);
      if (ch === "*" || ch === "%") {
        next[0] = row[0]!;
        for (let j = 1; j <= n.length; j++) {
          next[j] = row[j]! || (next[j - 1]! && (ch === "*" || n[j - 1] !== "/"));
        }
      } else {
        for (let j = 1; j <= n.length; j++) next[j] = row[j - 1]! && n[j - 1] === ch;
      }
      row = next;
    }
    return row[n.length]!;
  };
}

export interface Candidate {
  name: string;
  mailbox: Mailbox | null; // null: a parent that does not exist itself
  hasChildren: boolean;
}

/** Every mailbox and every ancestor of one (which may not exist), in name order. */
export function candidates(all: readonly Mailbox[]): Candidate[] {
  const byName = new Map(all.map((m) => [m.name, m]));
  const names = new Set<string>();
  const parents = new Set<string>();
  for (const m of all) {
    names.add(m.name);
    const parts = m.name.split("/");
    for (let i = 1; i < parts.length; i++) {
      const p = parts.slice(0, i).join("/");
      names.add(p);
      parents.add(p);
    }
  }
  const sorted = [...names].sort((a, b) => (a === "INBOX" ? -1 : b === "INBOX" ? 1 : a < b ? -1 : a > b ? 1 : 0));
  return sorted.map((name) => ({ name, mailbox: byName.get(name) ?? null, hasChildren: parents.has(name) }));
}

export async function statusLine(s: ImapSession, mb: Mailbox, items: readonly StatusItem[]): Promise<string> {
  const st = await s.services.store.mailboxStatus(mb.id);
  const out: string[] = [];
  for (const it of items) {
    switch (it) {
      case "MESSAGES": out.push(`MESSAGES ${st.messages}`); break;
      case "UIDNEXT": out.push(`UIDNEXT ${st.uidNext}`); break;
      case "UIDVALIDITY": out.push(`UIDVALIDITY ${st.uidValidity}`); break;
      case "UNSEEN": out.push(`UNSEEN ${st.unseen}`); break;
      case "DELETED": out.push(`DELETED ${st.deleted}`); break;
      case "SIZE": out.push(`SIZE ${st.size}`); break;
      case "HIGHESTMODSEQ": out.push(`HIGHESTMODSEQ ${toWire(st.highestModseq)}`); break;
      case "RECENT": out.push("RECENT 0"); break;
      case "APPENDLIMIT": out.push(`APPENDLIMIT ${s.services.config.limits.max_message_size}`); break; // RFC 7889
    }
  }
  if (items.includes("HIGHESTMODSEQ")) s.condstore = true; // RFC 7162 §3.1: a CONDSTORE-enabling command
  return `* STATUS ${s.nameOut(mb.name)} (${out.join(" ")})\r\n`;
}
