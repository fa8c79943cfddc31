// The error a command handler throws to end its command with a tagged NO or BAD (or to close the
// session with * BYE). Every refusal carries the exact response it becomes.
//
// Invariant: `text` is ours (never raw client bytes), so it is always safe to put on the wire.

import { StoreError } from "../../store/types.js";

export type ImapStatus = "NO" | "BAD";

export class ImapError extends Error {
  constructor(
    readonly status: ImapStatus,
    /** Response code without brackets ("TRYCREATE", "OVERQUOTA"), or null. */
    readonly code: string | null,
    readonly text: string,
    /** When set, the session sends "* BYE <bye>" after the tagged response and closes. */
    readonly bye: string | null = null,
  ) {
    super(text);
    this.name = "ImapError";
  }
}

export const no = (text: string, code: string | null = null): ImapError => new ImapError("NO", code, text);
export const bad = (text: string, code: string | null = null): ImapError => new ImapError("BAD", code, text);

/** The store no longer has the message: expunged by another session since this one looked
 * (StoreError not-found, or its body file already unlinked). */
export function isGone(err: unknown): boolean {
  if (err instanceof StoreError) return err.code === "not-found";
  return (err as NodeJS.ErrnoException | null)?.code === "ENOENT";
}
