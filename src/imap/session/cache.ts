// The parse-once cache: a message stored without an IMAP structure (MessageMeta.parsed is null,
// e.g. delivered by SMTP or POP3 tooling) is parsed once with the foundation MIME parser and kept
// in a small in-memory LRU shared by all IMAP sessions of one server.
//
// Invariants: the cache is bounded (entries and total parsed-message size); a cached structure is
// keyed by the store-wide message id, which never changes for a stored body.

import type { MessageMeta, Store } from "../../store/types.js";

/** What the cache needs of a message: a listing entry without `parsed` is read from the body. */
type Msg = Pick<MessageMeta, "id" | "size"> & { parsed?: unknown };
import { findBodyStart, isParsedMessage, parseMessage, type ParsedMessage } from "../mime.js";

const MAX_ENTRIES = 512;
/** Octets read to find the header of an unparsed message for header SEARCH keys. */
const HEADER_PROBE = 64 * 1024;

export class ParsedCache {
  private readonly map = new Map<number, ParsedMessage>();

  constructor(private readonly store: Store) {}

  /** The stored or cached structure, without reading anything; null when neither exists. */
  peek(meta: Msg): ParsedMessage | null {
    if (isParsedMessage(meta.parsed)) return meta.parsed;
    return this.map.get(meta.id) ?? null;
  }

  /**
   * The header fields and envelope only, for SEARCH on a message stored without a structure:
   * reads just the header (at most HEADER_PROBE octets), not the body. null when the header is
   * longer than that (the caller parses the whole message then).
   */
  async headerOnly(meta: Msg): Promise<ParsedMessage | null> {
    const end = Math.min(meta.size, HEADER_PROBE);
    if (end === 0) return parseMessage(Buffer.alloc(0));
    const stream = await this.store.openBody(meta.id, { start: 0, end: end - 1 });
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c as string));
    const buf = Buffer.concat(chunks);
    const bodyStart = findBodyStart(buf, 0, buf.length);
    if (bodyStart === buf.length && meta.size > buf.length) return null;
    return parseMessage(buf.subarray(0, bodyStart));
  }

  /** The stored structure, or the cached one, or the body parsed now (and cached). */
  async get(meta: Msg): Promise<ParsedMessage> {
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
