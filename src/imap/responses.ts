// Untagged responses and response codes whose syntax is easy to get subtly wrong: STATUS, LIST /
// LSUB (with LIST-EXTENDED CHILDINFO), VANISHED (RFC 7162 §3.2.10), COPYUID / APPENDUID
// (RFC 4315 §3), ENABLED (RFC 5161), QUOTA / QUOTAROOT (RFC 9208), ID (RFC 2971).
//
// Invariants:
// - Mailbox names are passed in their wire form (encode.ts mailboxToWire) and never re-encoded.
// - UID sets are rendered compactly (sequence.ts formatSet); COPYUID keeps source/destination
//   order pairwise (RFC 4315 §3).

import { astring, imapString, nstring } from "./encode.js";
import { formatSet } from "./sequence.js";
import type { StatusItem } from "./commands.js";

/** `* STATUS name (MESSAGES 3 UNSEEN 1)` (RFC 9051 §7.2.4). `mailbox` is already in wire form. */
export function renderStatus(mailbox: string, values: ReadonlyArray<[StatusItem, number]>): string {
  return `* STATUS ${mailbox} (${values.map(([k, v]) => `${k} ${v}`).join(" ")})\r\n`;
}

/** `* LIST (\HasNoChildren \Sent) "/" name [extended]` (RFC 9051 §7.3.1, RFC 5258 §3.5).
 * `childInfo` adds ("CHILDINFO" ("SUBSCRIBED")) for RECURSIVEMATCH results. */
export function renderList(kind: "LIST" | "LSUB", attributes: readonly string[], delimiter: string | null, mailbox: string, childInfo: readonly string[] = []): string {
  let s = `* ${kind} (${attributes.join(" ")}) ${delimiter === null ? "NIL" : imapString(delimiter)} ${mailbox}`;
  if (childInfo.length > 0) s += ` ("CHILDINFO" (${childInfo.map((c) => imapString(c)).join(" ")}))`;
  return s + "\r\n";
}

/** `* VANISHED [(EARLIER)] uid-set` (RFC 7162 §3.2.10); null when there is nothing to report. */
export function renderVanished(uids: readonly number[], earlier: boolean): string | null {
  if (uids.length === 0) return null;
  return `* VANISHED ${earlier ? "(EARLIER) " : ""}${formatSet(uids, { sort: true })}\r\n`;
}

/** Response code `COPYUID uidvalidity src-set dst-set` (RFC 4315 §3), from [src, dst] pairs in
 * source-UID order; null when nothing was copied. */
export function copyUidCode(uidValidity: number, mapping: ReadonlyArray<[number, number]>): string | null {
  if (mapping.length === 0) return null;
  return `COPYUID ${uidValidity} ${formatSet(mapping.map((m) => m[0]))} ${formatSet(mapping.map((m) => m[1]))}`;
}

/** Response code `APPENDUID uidvalidity uid` (RFC 4315 §3). */
export function appendUidCode(uidValidity: number, uid: number): string {
  return `APPENDUID ${uidValidity} ${uid}`;
}

/** `* ENABLED cap cap` (RFC 5161 §3.2): only what was actually enabled now. */
export function renderEnabled(capabilities: readonly string[]): string {
  return `* ENABLED${capabilities.map((c) => " " + c).join("")}\r\n`;
}

/** `* QUOTAROOT mailbox root` and `* QUOTA root (STORAGE used limit)` (RFC 9208 §5.1, §5.2);
 * STORAGE is in units of 1024 octets, rounded up. */
export function renderQuota(root: string, usedOctets: number, limitOctets: number): string {
  return `* QUOTA ${astring(root)} (STORAGE ${Math.ceil(usedOctets / 1024)} ${Math.floor(limitOctets / 1024)})\r\n`;
}

export function renderQuotaRoot(mailbox: string, roots: readonly string[]): string {
  return `* QUOTAROOT ${mailbox}${roots.map((r) => " " + astring(r)).join("")}\r\n`;
}

/** `* ID ("name" "Portcullis" ...)` or `* ID NIL` (RFC 2971 §3.2). */
export function renderId(params: ReadonlyArray<[string, string | null]> | null): string {
  if (!params || params.length === 0) return "* ID NIL\r\n";
  return `* ID (${params.map(([k, v]) => `${imapString(k)} ${nstring(v)}`).join(" ")})\r\n`;
}
