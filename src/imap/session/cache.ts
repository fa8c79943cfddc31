// The parse-once cache: a message stored without an IMAP structure (MessageMeta.parsed is null,
// e.g. delivered by SMTP or POP3 tooling) is parsed once with the foundation MIME parser and kept
// in a small in-memory LRU shared by all IMAP sessions of one server.
//
// Invariants: the cache is bounded (entries and total parsed-message size); a cached structure is
// keyed by the store-wide message id, which never changes for a stored body.

import type { MessageMeta, Store } from "../../store/types.js";
import { isParsedMessage, parseMessage, type ParsedMessage } from "../mime.js";

const MAX_ENTRIES = 512;

export class ParsedCache {
  private readonly map = new Map<number, ParsedMessage>();

  constructor(private readonly store: Store) {}

  /** The stored structure, or the cached one, or the body parsed now (and cached). */
  async get(meta: MessageMeta): Promise<ParsedMessage> {
    if (isParsedMessage(meta.parsed)) return meta.parsed;
    const hit = this.map.get(meta.id);
    if (hit) {
      this.map.delete(meta.id);
      this.map.set(meta.id, hit);
      return hit;
    }
    const body = await this.store.readBody(meta.id);
    const parsed = parseMessage(body);
    this.map.set(meta.id, parsed);
    if (this.map.size > MAX_ENTRIES) {
      const oldest = this.map.keys().next().value;
      if (oldest !== undefined) this.map.delete(oldest);
    }
    return parsed;
  }
}
